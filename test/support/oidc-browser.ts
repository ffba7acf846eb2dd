/** One response as the browser saw it; the body is read already. */
export interface BrowserResponse {
  status: number;
  headers: Headers;
  /** The URL that was requested. */
  url: string;
  text: string;
  /** The `Location` header resolved against `url`, if there was one. */
  location: string | undefined;
}

/** A cookie in a jar of {@link OidcTestBrowser}. */
export interface BrowserCookie {
  name: string;
  value: string;
  path: string;
  /** Epoch milliseconds; undefined for a session cookie. */
  expiresAt: number | undefined;
  httpOnly: boolean;
  secure: boolean;
  sameSite: string | undefined;
}

/** Options of {@link OidcTestBrowser.follow}. */
export interface FollowOptions {
  /** Stop before requesting a URL for which this returns true. */
  stopAt?: (url: URL) => boolean;
  /** Requests at most this many URLs. Default 20. */
  maxHops?: number;
}

/** Where {@link OidcTestBrowser.follow} ended. */
export interface FollowResult {
  /** The last response received (a redirect when it stopped at `stopAt`). */
  response: BrowserResponse;
  /** The URL `stopAt` matched, not requested; undefined when it ended at a non-redirect response. */
  stoppedAt: URL | undefined;
  /** Every URL requested, in order. */
  visited: string[];
}

/** Options of {@link OidcTestBrowser.login}. */
export interface LoginOptions {
  /** Typed into the provider's login form; with devInteractions it becomes the account id. Default 'alice'. */
  login?: string;
  /** Default 'any' (devInteractions accepts any password). */
  password?: string;
  /**
   * The app's callback path, e.g. '/auth/callback': stop before requesting it on the start URL's origin and
   * return it, so the test can replay it, change `state`, run two tabs...
   */
  stopAtCallback?: string;
}

/** Where {@link OidcTestBrowser.login} ended. */
export interface LoginResult extends FollowResult {
  /** The app callback URL with `code`, `state` and `iss` (only with `stopAtCallback`). */
  callbackUrl: URL | undefined;
  /** Whether the provider showed its login form (false when its session logged the user in silently). */
  sawLoginForm: boolean;
  sawConsentForm: boolean;
}

/** A `<form>` read from HTML: its absolute action URL and the values of its inputs. */
export interface HtmlForm {
  action: string;
  method: string;
  id: string | undefined;
  fields: Record<string, string>;
}

/**
 * A tiny browser over the global fetch for driving OpenID Connect logins: it follows no redirects by itself
 * (`redirect: 'manual'`), keeps one cookie jar per origin (host:port) with cookie paths and expiry honoured,
 * and fills in the provider's real HTML forms.
 */
export class OidcTestBrowser {
  private readonly jars = new Map<string, BrowserCookie[]>();

  /** Requests an absolute URL with this browser's cookies and stores the cookies the response sets. */
  async request(url: string | URL, init: RequestInit = {}): Promise<BrowserResponse> {
    const target = new URL(url);
    const headers = new Headers(init.headers);
    const cookieHeader = this.cookieHeaderFor(target);
    if (cookieHeader && !headers.has('cookie')) headers.set('cookie', cookieHeader);
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) this.storeCookie(target, line);
    const location = response.headers.get('location');
    return {
      status: response.status,
      headers: response.headers,
      url: target.href,
      text: await response.text(),
      location: location === null ? undefined : new URL(location, target).href,
    };
  }

  /** A GET request. */
  get(url: string | URL, init: RequestInit = {}): Promise<BrowserResponse> {
    return this.request(url, { ...init, method: 'GET' });
  }

  /** A POST of `fields` as `application/x-www-form-urlencoded`, like a browser submitting a form. */
  postForm(url: string | URL, fields: Record<string, string>, init: RequestInit = {}): Promise<BrowserResponse> {
    const headers = new Headers(init.headers);
    headers.set('content-type', 'application/x-www-form-urlencoded');
    return this.request(url, { ...init, method: 'POST', headers, body: new URLSearchParams(fields).toString() });
  }

  /**
   * GETs `url` and follows redirects (always with GET), until a non-redirect response or a URL for which
   * `stopAt` returns true, which is then returned instead of requested.
   */
  async follow(url: string | URL, options: FollowOptions = {}): Promise<FollowResult> {
    const first = new URL(url);
    if (options.stopAt?.(first)) {
      throw new Error(`follow(${first.href}): stopAt matches the start URL, nothing would be requested`);
    }
    const response = await this.get(first);
    return this.followFrom(response, options, [first.href]);
  }

  /**
   * Continues after `response` like {@link follow}: redirects are followed, `stopAt` is honoured.
   * @param visited the URLs requested so far; new ones are appended to it
   */
  async followFrom(response: BrowserResponse, options: FollowOptions = {}, visited: string[] = [response.url]): Promise<FollowResult> {
    const maxHops = options.maxHops ?? 20;
    let current = response;
    while (isRedirect(current.status) && current.location !== undefined) {
      const next = new URL(current.location);
      if (options.stopAt?.(next)) return { response: current, stoppedAt: next, visited };
      if (visited.length >= maxHops) throw new Error(`more than ${maxHops} hops: ${visited.join(' -> ')}`);
      visited.push(next.href);
      current = await this.get(next);
    }
    return { response: current, stoppedAt: undefined, visited };
  }

  /**
   * Logs in through the provider's devInteractions pages: starts at the app's login URL, follows to the
   * provider, submits its login form and then its consent form when shown, and follows the redirect back.
   * With `stopAtCallback` it stops before the app's callback URL and returns it; without, it requests the
   * callback and follows the app's redirects to the final page.
   * @throws when `stopAtCallback` is given and the flow ends anywhere else, or the provider shows a form it does not know
   */
  async login(startUrl: string | URL, options: LoginOptions = {}): Promise<LoginResult> {
    const appOrigin = new URL(startUrl).origin;
    const { stopAtCallback } = options;
    const follow: FollowOptions = {
      stopAt: stopAtCallback === undefined ? undefined : (u) => u.origin === appOrigin && u.pathname === stopAtCallback,
    };
    let sawLoginForm = false;
    let sawConsentForm = false;
    let step = await this.follow(startUrl, follow);
    const visited = step.visited;

    // Login, then consent: a third form means the flow went somewhere this driver does not understand.
    for (let forms = 0; step.stoppedAt === undefined && forms < 3; forms += 1) {
      const form = parseForms(step.response.text, step.response.url).find((f) => f.fields.prompt !== undefined);
      if (!form || step.response.status !== 200) break;
      const fields = { ...form.fields };
      if (fields.prompt === 'login') {
        sawLoginForm = true;
        fields.login = options.login ?? 'alice';
        fields.password = options.password ?? 'any';
      } else if (fields.prompt === 'consent') {
        sawConsentForm = true;
      } else {
        throw new Error(`login: unknown provider form prompt=${fields.prompt} at ${step.response.url}`);
      }
      visited.push(form.action);
      const posted = await this.postForm(form.action, fields);
      step = await this.followFrom(posted, follow, visited);
    }

    if (stopAtCallback !== undefined && step.stoppedAt === undefined) {
      const { status, url, text } = step.response;
      throw new Error(`login: never reached ${stopAtCallback}; ended at ${status} ${url}: ${text.slice(0, 300)}`);
    }
    return { ...step, callbackUrl: step.stoppedAt, sawLoginForm, sawConsentForm };
  }

  /**
   * Opens the provider's end-session URL (RP-initiated logout), confirms the "sign out?" form with
   * `logout=yes` and its hidden `xsrf`, and follows the redirects (to the post-logout redirect URI, if any).
   */
  async confirmLogoutAtProvider(endSessionUrl: string | URL, options: FollowOptions = {}): Promise<FollowResult> {
    const page = await this.follow(endSessionUrl, options);
    if (page.stoppedAt !== undefined) return page;
    const form = parseForms(page.response.text, page.response.url).find((f) => 'xsrf' in f.fields);
    if (!form) {
      const { status, url, text } = page.response;
      throw new Error(`confirmLogoutAtProvider: no logout form at ${status} ${url}: ${text.slice(0, 300)}`);
    }
    page.visited.push(form.action);
    const posted = await this.postForm(form.action, { ...form.fields, logout: 'yes' });
    return this.followFrom(posted, options, page.visited);
  }

  /** The cookies held for `origin` (e.g. 'http://127.0.0.1:3000'), expired ones left out. */
  cookies(origin: string | URL): BrowserCookie[] {
    const now = Date.now();
    return (this.jars.get(new URL(origin).host) ?? []).filter((c) => c.expiresAt === undefined || c.expiresAt > now);
  }

  /** Forgets the cookies of `origin`, or of every origin. */
  clearCookies(origin?: string | URL): void {
    if (origin === undefined) this.jars.clear();
    else this.jars.delete(new URL(origin).host);
  }

  private cookieHeaderFor(url: URL): string {
    return (
      this.cookies(url)
        .filter((c) => pathMatches(url.pathname, c.path))
        // RFC 6265: longer paths first.
        .sort((a, b) => b.path.length - a.path.length)
        .map((c) => `${c.name}=${c.value}`)
        .join('; ')
    );
  }

  private storeCookie(url: URL, line: string): void {
    const [pair = '', ...attributeParts] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return;
    const cookie: BrowserCookie = {
      name: pair.slice(0, eq).trim(),
      value: pair.slice(eq + 1).trim(),
      path: defaultPath(url),
      expiresAt: undefined,
      httpOnly: false,
      secure: false,
      sameSite: undefined,
    };
    let maxAge: number | undefined;
    for (const part of attributeParts) {
      const [rawKey = '', ...rest] = part.split('=');
      const key = rawKey.trim().toLowerCase();
      const value = rest.join('=').trim();
      if (key === 'path' && value.startsWith('/')) cookie.path = value;
      else if (key === 'max-age' && /^-?\d+$/.test(value)) maxAge = Number(value);
      else if (key === 'expires' && !Number.isNaN(Date.parse(value))) cookie.expiresAt = Date.parse(value);
      else if (key === 'httponly') cookie.httpOnly = true;
      else if (key === 'secure') cookie.secure = true;
      else if (key === 'samesite') cookie.sameSite = value;
    }
    // Max-Age wins over Expires (RFC 6265 5.3).
    if (maxAge !== undefined) cookie.expiresAt = Date.now() + maxAge * 1000;

    const jar = (this.jars.get(url.host) ?? []).filter((c) => c.name !== cookie.name || c.path !== cookie.path);
    if (cookie.expiresAt === undefined || cookie.expiresAt > Date.now()) jar.push(cookie);
    this.jars.set(url.host, jar);
  }
}

/** Reads every `<form>` of `html`: action resolved against `baseUrl`, inputs (with a name) and their values. */
export function parseForms(html: string, baseUrl: string): HtmlForm[] {
  const forms: HtmlForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attributes = parseAttributes(match[1] ?? '');
    const fields: Record<string, string> = {};
    for (const input of (match[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
      const inputAttributes = parseAttributes(input[1] ?? '');
      if (inputAttributes.name !== undefined) fields[inputAttributes.name] = inputAttributes.value ?? '';
    }
    forms.push({
      action: new URL(attributes.action ?? baseUrl, baseUrl).href,
      method: (attributes.method ?? 'get').toLowerCase(),
      id: attributes.id,
      fields,
    });
  }
  return forms;
}

function parseAttributes(source: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const m of source.matchAll(/([\w:.-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>/]+)))?/g)) {
    const name = (m[1] ?? '').toLowerCase();
    attributes[name] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attributes;
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (entity, code: string) => {
    const lower = code.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(Number(lower.slice(1)));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[lower] ?? entity;
  });
}

function isRedirect(status: number): boolean {
  return status >= 300 && status < 400 && status !== 304;
}

function defaultPath(url: URL): string {
  const slash = url.pathname.lastIndexOf('/');
  return slash <= 0 ? '/' : url.pathname.slice(0, slash);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}
