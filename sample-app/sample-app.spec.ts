import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient, type TestResponse } from '../test/support/http-client.js';
import { OidcTestBrowser } from '../test/support/oidc-browser.js';
import { freePort } from '../test/support/ports.js';
import { displayName, LOGIN_PATH } from './app.controller.js';
import { sessionOptionsFromEnv, sessionPrincipal, sessionStoreUrl } from './app.module.js';
import { appUrl, devProviderPort, realProviderOptions } from './auth-config.js';
import { samplePlatform, startSampleApp, type SampleApp } from './server.js';
import { escapeHtml, html, renderAccount, renderSessions } from './views.js';

const SECRET = 'sample-app-test-secret-0123456789abcdef';

/** The visit counter the home page shows. */
function visits(response: { text: string }): number {
  const match = /id="visits">(\d+)</.exec(response.text);
  if (!match) throw new Error(`no visit counter in:\n${response.text}`);
  return Number(match[1]);
}

/** The flash paragraphs the page shows, as [type, text] pairs. */
function flashes(response: { text: string }): Array<[string, string]> {
  return [...response.text.matchAll(/<p class="flash flash-(\w+)" role="status">([^<]*)<\/p>/g)].map(
    (match) => [match[1], match[2]] as [string, string],
  );
}

/** Submit the message form the way a browser does (urlencoded body). */
function postMessage(client: TestClient, message: string): Promise<TestResponse> {
  return client.request('/message', { method: 'POST', body: new URLSearchParams({ message }) });
}

/** The sessions the sessions page lists: user agent (as the HTML has it), current or not, and the handle of its revoke form. */
function listedSessions(text: string): Array<{ agent: string; current: boolean; handle: string | undefined }> {
  return text
    .split('<li class="session">')
    .slice(1)
    .map((item) => ({
      agent: /<strong class="agent">([^<]*)<\/strong>/.exec(item)?.[1] ?? '',
      current: item.includes('<em class="current">(this device)</em>'),
      handle: /<input type="hidden" name="handle" value="([^"]*)">/.exec(item)?.[1],
    }));
}

/** The environment `npm start` would see: no OIDC_ISSUER (so the development provider), free ports. */
async function sampleEnv(extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  return { PORT: String(await freePort()), OIDC_DEV_PORT: String(await freePort()), SESSION_SECRET: SECRET, ...extra };
}

/** A new visitor (cookie jar) of the app. */
function visitor(app: SampleApp): TestClient {
  return new TestClient(app.url);
}

/** Who the page says is logged in, or undefined for a visitor. */
function signedInAs(text: string): string | undefined {
  return /<span id="user">Signed in as ([^<]*)<\/span>/.exec(text)?.[1];
}

const STORES = [
  { name: 'memory store', store: () => Promise.resolve('memory:') },
  { name: 'file store', store: async () => `file:${await mkdtemp(join(tmpdir(), 'sample-app-sessions-'))}` },
];

// Every store on both platforms (`SAMPLE_PLATFORM`): the same app, unchanged.
describe.each((['express', 'fastify'] as const).flatMap((platform) => STORES.map((entry) => ({ ...entry, platform }))))(
  'sample app over HTTP ($name, on $platform)',
  ({ store, platform }) => {
    let running: SampleApp;
    let storeUrl: string;

    beforeAll(async () => {
      storeUrl = await store();
      // As `npm start` runs it without OIDC_ISSUER: with the development provider, on free ports.
      running = await startSampleApp({
        env: await sampleEnv({ SESSION_STORE: storeUrl, SAMPLE_PLATFORM: platform }),
        host: '127.0.0.1',
        logger: false,
      });
      expect(running.platform).toBe(platform);
    });

    afterAll(async () => {
      await running?.close();
      if (storeUrl?.startsWith('file:')) await rm(storeUrl.slice('file:'.length), { recursive: true, force: true });
    });

    it('serves HTML and counts visits per session', async () => {
      const alice = visitor(running);
      const first = await alice.get('/');
      expect(first.status).toBe(200);
      expect(first.headers.get('content-type')).toMatch(/^text\/html/);
      expect(first.cookie('sid')).toBeDefined();
      expect(visits(first)).toBe(1);
      expect(visits(await alice.get('/'))).toBe(2);
      expect(visits(await alice.get('/'))).toBe(3);

      // Another browser has its own session.
      expect(visits(await visitor(running).get('/'))).toBe(1);
    });

    it('shows the success flash after the redirect exactly once', async () => {
      const client = visitor(running);
      await client.get('/');
      const posted = await postMessage(client, 'Hello there');
      expect(posted.status).toBe(303);
      expect(posted.headers.get('location')).toBe('/');

      const shown = await client.get(posted.headers.get('location')!);
      expect(flashes(shown)).toEqual([['success', 'Thanks! You said: Hello there']]);
      expect(shown.text).toContain('<li>Hello there</li>');

      const again = await client.get('/');
      expect(flashes(again)).toEqual([]);
      expect(again.text).toContain('<li>Hello there</li>');
    });

    it('rejects an empty message with an error flash and keeps nothing', async () => {
      const client = visitor(running);
      const posted = await postMessage(client, '   ');
      expect(posted.status).toBe(303);

      const shown = await client.get('/');
      expect(flashes(shown)).toEqual([['error', 'Please write a message before sending.']]);
      expect(shown.text).not.toContain('<li>');
      expect(flashes(await client.get('/'))).toEqual([]);
    });

    it('rejects a form field that is not text', async () => {
      const client = visitor(running);
      // Extended urlencoded parsing turns `message[nested]=x` into an object.
      await client.request('/message', {
        method: 'POST',
        body: 'message[nested]=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(flashes(await client.get('/'))).toEqual([['error', 'Please write a message before sending.']]);
    });

    it('escapes what the visitor typed', async () => {
      const client = visitor(running);
      await postMessage(client, '<script>alert("x")</script> & \'more\'');
      const shown = await client.get('/');
      expect(shown.text).not.toContain('<script>');
      const escaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;more&#39;';
      expect(shown.text).toContain(`Thanks! You said: ${escaped}</p>`);
      expect(shown.text).toContain(`<li>${escaped}</li>`);
    });

    it('logs out: the session ends, the flash arrives in a new session and the counter restarts', async () => {
      const client = visitor(running);
      await client.get('/');
      await postMessage(client, 'before logout');
      expect(visits(await client.get('/'))).toBe(2);
      const oldCookie = client.jar.get('sid');

      const loggedOut = await client.request('/logout', { method: 'POST' });
      expect(loggedOut.status).toBe(303);
      expect(loggedOut.headers.get('location')).toBe('/');
      const newCookie = client.jar.get('sid');
      expect(newCookie).toBeDefined();
      expect(newCookie).not.toBe(oldCookie);

      const shown = await client.get('/');
      expect(flashes(shown)).toEqual([['info', 'You are logged out.']]);
      expect(visits(shown)).toBe(1);
      expect(shown.text).not.toContain('before logout');
      expect(flashes(await client.get('/'))).toEqual([]);

      // The old session is gone from the store, not just forgotten by this browser.
      const replay = visitor(running);
      replay.jar.set('sid', oldCookie!);
      expect(visits(await replay.get('/'))).toBe(1);
    });

    it('offers "Log in" to a visitor', async () => {
      const home = await visitor(running).get('/');
      expect(home.status).toBe(200);
      expect(home.text).toContain(`<a id="login" href="${LOGIN_PATH}">Log in</a>`);
      expect(LOGIN_PATH).toBe('/auth/login?returnTo=/welcome');
      expect(signedInAs(home.text)).toBeUndefined();
      expect(home.text).not.toContain('>Log out</button>');
    });

    it('sends a visitor of /account to the login, which goes on to the development provider', async () => {
      const client = visitor(running);
      const account = await client.get('/account', { headers: { accept: 'text/html' } });
      expect(account.status).toBe(303);
      expect(account.headers.get('location')).toBe('/auth/login?returnTo=%2Faccount');

      const login = await client.get(account.headers.get('location')!);
      expect(login.status).toBe(302);
      const authorize = new URL(login.headers.get('location')!);
      expect(`${authorize.origin}`).toBe(running.devProvider!.issuer);
      expect(authorize.searchParams.get('redirect_uri')).toBe(`${running.url}/auth/callback`);
      expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    });

    it('logs in through the development provider, welcomes the user once, shows the claims and logs out', async () => {
      const browser = new OidcTestBrowser();
      const login = await browser.login(`${running.url}${LOGIN_PATH}`, { login: 'alice' });
      expect(login.sawLoginForm).toBe(true);
      expect(login.visited).toContain(`${running.url}/welcome`);
      expect(login.response.status).toBe(200);
      expect(login.response.url).toBe(`${running.url}/`);
      expect(signedInAs(login.response.text)).toBe('Alice (alice@example.test)');
      expect(flashes(login.response)).toEqual([['success', 'Welcome, Alice!']]);
      expect(login.response.text).toContain('<form method="post" action="/logout"><button type="submit">Log out</button></form>');
      expect(login.response.text).not.toContain('>Log in</a>');

      // The welcome was a flash: shown once.
      const again = await browser.get(`${running.url}/`);
      expect(signedInAs(again.text)).toBe('Alice (alice@example.test)');
      expect(flashes(again)).toEqual([]);

      // The guarded page shows the claims, and never a token.
      const account = await browser.get(`${running.url}/account`);
      expect(account.status).toBe(200);
      expect(account.text).toContain('<dt>sub</dt><dd>alice</dd>');
      expect(account.text).toContain('<dt>email</dt><dd>alice@example.test</dd>');
      expect(account.text).toContain('<dt>name</dt><dd>Alice</dd>');
      expect(account.text).not.toMatch(/eyJ[\w-]+\.eyJ/);
      expect(account.text).not.toMatch(/token/i);

      // Log out: the app ends the session and sends the browser to the provider, which asks, then
      // redirects back to the home page.
      const loggedOut = await browser.postForm(`${running.url}/logout`, {});
      expect(loggedOut.status).toBe(303);
      expect(loggedOut.location).toMatch(new RegExp(`^${running.devProvider!.issuer}/`));
      const back = await browser.confirmLogoutAtProvider(loggedOut.location!);
      expect(back.response.status).toBe(200);
      expect(back.response.url).toBe(`${running.url}/`);
      expect(flashes(back.response)).toEqual([['info', 'You are logged out.']]);
      expect(signedInAs(back.response.text)).toBeUndefined();
      expect(back.response.text).toContain('>Log in</a>');
      expect(flashes(await browser.get(`${running.url}/`))).toEqual([]);
      expect((await browser.get(`${running.url}/account`, { headers: { accept: 'text/html' } })).status).toBe(303);

      // The provider's session ended too: the next login asks for the name again.
      const next = await browser.login(`${running.url}${LOGIN_PATH}`, { login: 'bob' });
      expect(next.sawLoginForm).toBe(true);
      expect(signedInAs(next.response.text)).toBe('Bob (bob@example.test)');
    });

    it('sends a visitor of /sessions to the login, and refuses its forms', async () => {
      const client = visitor(running);
      const page = await client.get('/sessions', { headers: { accept: 'text/html' } });
      expect(page.status).toBe(303);
      expect(page.headers.get('location')).toBe('/auth/login?returnTo=%2Fsessions');
      expect((await client.request('/sessions/revoke-others', { method: 'POST' })).status).toBe(401);
      expect((await client.request('/sessions/revoke', { method: 'POST', body: new URLSearchParams({ handle: 'x' }) })).status).toBe(401);
    });

    it("lists the user's sessions with their user agents (escaped), and logs out one or all others", async () => {
      const user = 'dana';
      // The first device starts its session with a user agent that is markup.
      const first = new OidcTestBrowser();
      await first.get(`${running.url}/`, { headers: { 'user-agent': '<b>Evil</b> "agent"' } });
      await first.login(`${running.url}${LOGIN_PATH}`, { login: user });
      const second = new OidcTestBrowser();
      await second.login(`${running.url}${LOGIN_PATH}`, { login: user });
      // Someone else's session is never listed.
      await new OidcTestBrowser().login(`${running.url}${LOGIN_PATH}`, { login: 'erin' });

      const page = await second.get(`${running.url}/sessions`);
      expect(page.status).toBe(200);
      expect(page.headers.get('cache-control')).toBe('no-store');
      expect(page.text).toContain('<h1>Your sessions</h1>');
      expect(page.text).not.toContain('<b>Evil</b>');
      const listed = listedSessions(page.text);
      expect(listed.map(({ agent, current }) => ({ agent, current })).sort((a, b) => a.agent.localeCompare(b.agent))).toEqual([
        { agent: '&lt;b&gt;Evil&lt;/b&gt; &quot;agent&quot;', current: false },
        { agent: 'node', current: true },
      ]);
      // Only the other session has a revoke form, and its handle is no session ID.
      expect(listed.find((entry) => entry.current)?.handle).toBeUndefined();
      const handle = listed.find((entry) => !entry.current)?.handle;
      expect(handle).toMatch(/^[\w.-]+$/);
      expect(page.text).toContain('<button type="submit">Log out other sessions</button>');
      expect((await first.get(`${running.url}/`)).text).toContain('>Your sessions</a>');

      // An unknown handle ends nothing.
      const unknown = await second.postForm(`${running.url}/sessions/revoke`, { handle: 'no-such-handle' });
      expect(unknown.status).toBe(303);
      expect(unknown.location).toBe(`${running.url}/sessions`);
      expect(flashes(await second.get(`${running.url}/sessions`))).toEqual([['error', 'That session had ended already.']]);
      expect(signedInAs((await first.get(`${running.url}/`)).text)).toBeDefined();

      // A post from another site is refused.
      const crossSite = await second.postForm(
        `${running.url}/sessions/revoke`,
        { handle: handle! },
        { headers: { 'sec-fetch-site': 'cross-site' } },
      );
      expect(crossSite.status).toBe(403);
      expect(signedInAs((await first.get(`${running.url}/`)).text)).toBeDefined();

      const revoked = await second.postForm(`${running.url}/sessions/revoke`, { handle: handle! });
      expect(revoked.status).toBe(303);
      expect(revoked.location).toBe(`${running.url}/sessions`);
      const after = await second.get(`${running.url}/sessions`);
      expect(flashes(after)).toEqual([['success', 'The session was logged out.']]);
      expect(listedSessions(after.text).map(({ agent, current }) => ({ agent, current }))).toEqual([{ agent: 'node', current: true }]);
      expect(after.text).toContain('You are not logged in anywhere else.');
      expect(signedInAs((await first.get(`${running.url}/`)).text)).toBeUndefined();

      // Log in the first device again, then log out every other session from it.
      await first.login(`${running.url}${LOGIN_PATH}`, { login: user });
      const others = await first.postForm(`${running.url}/sessions/revoke-others`, {});
      expect(others.status).toBe(303);
      expect(others.location).toBe(`${running.url}/sessions`);
      const mine = await first.get(`${running.url}/sessions`);
      expect(flashes(mine)).toEqual([['success', 'Logged out 1 other session.']]);
      expect(listedSessions(mine.text).map(({ current }) => current)).toEqual([true]);
      expect(signedInAs((await second.get(`${running.url}/`)).text)).toBeUndefined();
      expect(signedInAs((await first.get(`${running.url}/`)).text)).toBe('Dana (dana@example.test)');
    });

    it("escapes the user's claims on every page", async () => {
      const browser = new OidcTestBrowser();
      const login = await browser.login(`${running.url}${LOGIN_PATH}`, { login: '<i>x</i>' });
      expect(login.response.text).not.toContain('<i>');
      expect(signedInAs(login.response.text)).toBe('&lt;i&gt;x&lt;/i&gt; (-i-x-i-@example.test)');
      expect(flashes(login.response)).toEqual([['success', 'Welcome, &lt;i&gt;x&lt;/i&gt;!']]);
      const account = await browser.get(`${running.url}/account`);
      expect(account.text).toContain('<dt>sub</dt><dd>&lt;i&gt;x&lt;/i&gt;</dd>');
      expect(account.text).not.toContain('<i>');
    });
  },
);

describe('sessionOptionsFromEnv', () => {
  it('takes the store, secret and proxy setting from the environment', () => {
    const options = sessionOptionsFromEnv({ SESSION_STORE: 'file:./x', SESSION_SECRET: SECRET, TRUST_PROXY: '1' });
    expect(options).toMatchObject({ store: 'file:./x', secret: SECRET, trustProxy: true, cookie: { secure: 'auto' } });
  });

  it("indexes sessions by the login's subject and keeps the user agent, not the IP address", () => {
    const options = sessionOptionsFromEnv({ SESSION_SECRET: SECRET });
    expect(options.principal).toBe(sessionPrincipal);
    expect(options.deviceInfo).toEqual({ userAgent: true, ip: false });
    const session = (data: Record<string, unknown>) =>
      ({ get: (key: string) => data[key] }) as unknown as Parameters<typeof sessionPrincipal>[0];
    expect(sessionPrincipal(session({ 'auth:main': { accessToken: 'a', claims: { sub: 'alice', name: 'Alice' } } }))).toBe('alice');
    expect(sessionPrincipal(session({}))).toBeUndefined();
    expect(sessionPrincipal(session({ 'auth:main': { claims: { sub: '' } } }))).toBeUndefined();
    expect(sessionPrincipal(session({ 'auth:other': { claims: { sub: 'bob' } } }))).toBeUndefined();
  });

  it('falls back to the memory store and a random per-process secret', () => {
    const first = sessionOptionsFromEnv({});
    const second = sessionOptionsFromEnv({});
    expect(first.store).toBe('memory:');
    expect(sessionStoreUrl({})).toBe('memory:');
    expect(first.trustProxy).toBe(false);
    expect(typeof first.secret).toBe('string');
    expect((first.secret as string).length).toBeGreaterThanOrEqual(32);
    expect(second.secret).not.toBe(first.secret);
  });
});

describe('sample app configuration', () => {
  it('defaults to 127.0.0.1 for the app URL and PORT + 1 for the development provider', () => {
    expect(appUrl({})).toBe('http://127.0.0.1:3000');
    expect(appUrl({ PORT: '4000' })).toBe('http://127.0.0.1:4000');
    expect(appUrl({ APP_URL: 'https://app.example.com/' })).toBe('https://app.example.com');
    expect(devProviderPort({})).toBe(3001);
    expect(devProviderPort({ PORT: '4000' })).toBe(4001);
    expect(devProviderPort({ PORT: '4000', OIDC_DEV_PORT: '5000' })).toBe(5000);
    expect(() => appUrl({ PORT: 'eighty' })).toThrow(/PORT must be a port number/);
    expect(() => appUrl({ APP_URL: 'app.example.com' })).toThrow(/APP_URL must be an absolute http\(s\) URL/);
  });

  it('runs on Express unless SAMPLE_PLATFORM says fastify', () => {
    expect(samplePlatform({})).toBe('express');
    expect(samplePlatform({ SAMPLE_PLATFORM: 'Fastify' })).toBe('fastify');
    expect(samplePlatform({ SAMPLE_PLATFORM: 'express' })).toBe('express');
    expect(() => samplePlatform({ SAMPLE_PLATFORM: 'koa' })).toThrow(/SAMPLE_PLATFORM must be express or fastify/);
  });

  it('uses no real provider without OIDC_ISSUER', () => {
    expect(realProviderOptions({})).toBeUndefined();
  });

  it('configures a real provider from OIDC_* and APP_URL, without allowing insecure issuers', () => {
    const env = {
      OIDC_ISSUER: 'https://id.example.com',
      OIDC_CLIENT_ID: 'sample',
      OIDC_CLIENT_SECRET: 'shh',
      OIDC_SCOPE: 'openid email',
      APP_URL: 'https://app.example.com',
    };
    expect(realProviderOptions(env)).toEqual({
      providers: {
        main: {
          issuer: 'https://id.example.com',
          clientId: 'sample',
          clientSecret: 'shh',
          scope: 'openid email',
          redirectUri: 'https://app.example.com/auth/callback',
          postLogoutRedirectUri: 'https://app.example.com/',
        },
      },
    });
    const { OIDC_CLIENT_SECRET: _secret, OIDC_SCOPE: _scope, ...publicClient } = env;
    expect(realProviderOptions(publicClient)?.providers.main).not.toHaveProperty('clientSecret');
    expect(() => realProviderOptions({ ...env, OIDC_CLIENT_ID: '' })).toThrow(/OIDC_CLIENT_ID is required/);
    expect(() => realProviderOptions({ ...env, APP_URL: undefined })).toThrow(/APP_URL must be an https URL when OIDC_ISSUER is set/);
  });

  it('greets users by name, else by username, email or subject', () => {
    expect(displayName({ sub: 's', name: 'Ann', email: 'a@x' })).toBe('Ann');
    expect(displayName({ sub: 's', preferred_username: 'ann', email: 'a@x' })).toBe('ann');
    expect(displayName({ sub: 's', name: ' ', email: 'a@x' })).toBe('a@x');
    expect(displayName({ sub: 's' })).toBe('s');
  });

  it('stops the development provider when the app closes', async () => {
    const app = await startSampleApp({ env: await sampleEnv(), host: '127.0.0.1', logger: false });
    const discovery = `${app.devProvider!.issuer}/.well-known/openid-configuration`;
    expect((await fetch(discovery)).status).toBe(200);
    await app.close();
    await expect(fetch(discovery)).rejects.toThrow();
  });
});

describe('views', () => {
  it('escapes every interpolated value but keeps nested fragments as markup', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p title="${'"q"'}">${inner}${['<', html`<br>`]}${undefined}${false}${0}</p>`.value).toBe(
      '<p title="&quot;q&quot;"><b>&lt;i&gt;</b>&lt;<br>0</p>',
    );
  });

  it('shows the sessions with escaped user agents, and revoke forms for the other ones only', () => {
    const page = renderSessions({
      user: { name: 'A' },
      sessions: [
        { handle: 'h-1', current: true, createdAt: Date.UTC(2026, 0, 2, 3, 4), lastSeenAt: Date.UTC(2026, 0, 2, 5, 6) },
        { handle: 'h"2', current: false, createdAt: 0, lastSeenAt: 0, userAgent: '<script>x</script>' },
      ],
    });
    expect(page).toContain('<strong class="agent">Unknown browser</strong> <em class="current">(this device)</em>');
    expect(page).toContain('<time datetime="2026-01-02T03:04:00.000Z">2026-01-02 03:04 UTC</time>');
    expect(page).toContain('<strong class="agent">&lt;script&gt;x&lt;/script&gt;</strong>');
    expect(page).not.toContain('<script>');
    expect(page).not.toContain('value="h-1"');
    expect(page).toContain('<input type="hidden" name="handle" value="h&quot;2">');
    expect(page).toContain('action="/sessions/revoke-others"');
    const alone = renderSessions({ user: { name: 'A' }, sessions: [{ handle: 'h', current: true, createdAt: 0, lastSeenAt: 0 }] });
    expect(alone).not.toContain('/sessions/revoke');
    expect(alone).toContain('You are not logged in anywhere else.');
  });

  it('shows claims as text, and anything that is not a string as JSON', () => {
    const page = renderAccount({ user: { name: 'A' }, claims: { sub: 'a', groups: ['x', '<y>'], email_verified: true } });
    expect(page).toContain('<dt>groups</dt><dd>[&quot;x&quot;,&quot;&lt;y&gt;&quot;]</dd>');
    expect(page).toContain('<dt>email_verified</dt><dd>true</dd>');
    expect(page).toContain('<span id="user">Signed in as A</span>');
  });
});
