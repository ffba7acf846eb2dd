/**
 * HTML for the sample app, written as template literals. Every value interpolated through
 * {@link html} is escaped unless it is itself the output of {@link html}, so a page cannot be
 * broken (or scripted) by what a visitor types.
 */

/** A fragment of markup that is already safe to insert as-is. */
export class SafeHtml {
  constructor(readonly value: string) {}

  toString(): string {
    return this.value;
  }
}

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escape text for use in element content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ENTITIES[char]);
}

function interpolate(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(interpolate).join('');
  // Leaving out "nothing" lets templates write `${condition && html`...`}`.
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(typeof value === 'string' ? value : (JSON.stringify(value) ?? ''));
}

/**
 * Tagged template that escapes every interpolated value; nested `html` fragments and arrays of
 * them are inserted as markup.
 * @example html`<p>${userInput}</p>`
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0];
  values.forEach((value, index) => {
    out += interpolate(value) + strings[index + 1];
  });
  return new SafeHtml(out);
}

/** Flash messages by type, as `session.flash(type, message)` accumulates them. */
export interface FlashMessages {
  success?: string[];
  error?: string[];
  info?: string[];
}

/** The logged-in user as the pages show them. */
export interface SignedInUser {
  name: string;
  email?: string;
}

/** What the home page shows. */
export interface HomePage {
  visits: number;
  flash?: FlashMessages;
  messages: readonly string[];
  /** Longest message the server accepts. */
  maxLength: number;
  /** The logged-in user, or undefined for a visitor. */
  user?: SignedInUser;
  /** Where the "Log in" link goes. */
  loginPath: string;
}

/** One of the user's sessions as the sessions page shows it (`SessionDevices.list()`). */
export interface SessionEntry {
  /** Opaque, no credential: what the revoke form posts back. */
  handle: string;
  /** Whether it is the session of this browser. */
  current: boolean;
  createdAt: number;
  lastSeenAt: number;
  /** The browser's user agent when the session started: text the browser chose, shown escaped. */
  userAgent?: string;
}

/** What the sessions page shows. */
export interface SessionsPage {
  user: SignedInUser;
  flash?: FlashMessages;
  /** The user's live sessions, the most recently seen first. */
  sessions: readonly SessionEntry[];
}

/** What the account page shows. */
export interface AccountPage {
  user: SignedInUser;
  /** The user's claims (never tokens). */
  claims: Readonly<Record<string, unknown>>;
}

function layout(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  .flash { padding: .5rem 1rem; border-radius: .25rem; margin: .5rem 0; }
  .flash-success { background: #e6f4ea; } .flash-error { background: #fce8e6; } .flash-info { background: #e8f0fe; }
  nav { display: flex; gap: 1rem; align-items: center; border-bottom: 1px solid #ddd; padding-bottom: .5rem; }
  nav form { margin: 0 0 0 auto; }
  dt { font-weight: bold; } dd { margin: 0 0 .5rem 1rem; overflow-wrap: anywhere; }
  .session { margin: .75rem 0; overflow-wrap: anywhere; } .session form { display: inline; }
</style>
</head>
<body>
${body}
</body>
</html>
`.value;
}

function flashList(flash: FlashMessages | undefined): SafeHtml {
  if (!flash) return html``;
  const types = ['error', 'success', 'info'] as const;
  return html`${types.map((type) =>
    (flash[type] ?? []).map((message) => html`<p class="flash flash-${type}" role="status">${message}</p>`),
  )}`;
}

/** The top of every page: links, and who is logged in with the matching button. */
function nav(user: SignedInUser | undefined, loginPath = '/auth/login'): SafeHtml {
  return html`<nav>
  <a href="/">Home</a>
  <a href="/account">Account</a>
  ${user && html`<a href="/sessions">Your sessions</a>`}
  ${
    user
      ? html`<span id="user">Signed in as ${user.name}${user.email !== undefined && html` (${user.email})`}</span>
  <form method="post" action="/logout"><button type="submit">Log out</button></form>`
      : html`<a id="login" href="${loginPath}">Log in</a>`
  }
</nav>`;
}

/** The home page: who is logged in, visit counter, flash messages, the message form. */
export function renderHome(page: HomePage): string {
  return layout(
    'nest-sessions sample',
    html`${nav(page.user, page.loginPath)}
<h1>nest-sessions sample</h1>
${flashList(page.flash)}
<p>You have visited this page <strong id="visits">${page.visits}</strong> ${page.visits === 1 ? 'time' : 'times'} in this session.</p>
<form method="post" action="/message">
  <label for="message">Leave a message</label>
  <input id="message" name="message" type="text" maxlength="${page.maxLength}">
  <button type="submit">Send</button>
</form>
${
  page.messages.length > 0 &&
  html`<h2>Your messages</h2>
<ul>${page.messages.map((message) => html`<li>${message}</li>`)}</ul>`
}
${
  !page.user &&
  html`<form method="post" action="/logout">
  <button type="submit">End this session</button>
</form>`
}`,
  );
}

/** A claim's value as text: strings as they are, anything else (numbers, arrays, objects) as JSON. */
function claimText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The account page: the user's claims as the provider sent them (ID token and UserInfo). */
export function renderAccount(page: AccountPage): string {
  const claims = Object.entries(page.claims).sort(([a], [b]) => a.localeCompare(b));
  return layout(
    'Your account - nest-sessions sample',
    html`${nav(page.user)}
<h1>Your account</h1>
<p>The claims your provider sent about you:</p>
<dl id="claims">${claims.map(
      ([name, value]) => html`
  <dt>${name}</dt><dd>${claimText(value)}</dd>`,
    )}
</dl>`,
  );
}

/** A moment as a `<time>` element: ISO 8601 in the attribute, minutes in UTC as the text. */
function timeOf(epochMs: number): SafeHtml {
  const iso = new Date(epochMs).toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

/**
 * The sessions page: where the user is logged in, this browser's session marked, a button to log
 * out each other one, and one to log out all others.
 */
export function renderSessions(page: SessionsPage): string {
  const others = page.sessions.filter((session) => !session.current).length;
  return layout(
    'Your sessions - nest-sessions sample',
    html`${nav(page.user)}
<h1>Your sessions</h1>
${flashList(page.flash)}
<p>Where you are logged in. Log out any session you do not recognise.</p>
<ul id="sessions">${page.sessions.map(
      (session) => html`
  <li class="session">
    <strong class="agent">${session.userAgent ?? 'Unknown browser'}</strong>${session.current && html` <em class="current">(this device)</em>`}<br>
    Started ${timeOf(session.createdAt)}, last seen ${timeOf(session.lastSeenAt)}
    ${
      !session.current &&
      html`<form method="post" action="/sessions/revoke">
      <input type="hidden" name="handle" value="${session.handle}">
      <button type="submit">Log out this session</button>
    </form>`
    }
  </li>`,
    )}
</ul>
${
  others > 0
    ? html`<form method="post" action="/sessions/revoke-others">
  <button type="submit">Log out other sessions</button>
</form>`
    : html`<p>You are not logged in anywhere else.</p>`
}`,
  );
}
