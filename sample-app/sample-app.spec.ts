import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TestClient, type TestResponse } from '../test/support/http-client.js';
import { startApp, type RunningApp } from '../test/support/test-app.js';
import { AppModule, sessionOptionsFromEnv, sessionStoreUrl } from './app.module.js';
import { escapeHtml, html } from './views.js';

const SECRET = 'sample-app-test-secret-0123456789abcdef';

/** The visit counter the home page shows. */
function visits(response: TestResponse): number {
  const match = /id="visits">(\d+)</.exec(response.text);
  if (!match) throw new Error(`no visit counter in:\n${response.text}`);
  return Number(match[1]);
}

/** The flash paragraphs the page shows, as [type, text] pairs. */
function flashes(response: TestResponse): Array<[string, string]> {
  return [...response.text.matchAll(/<p class="flash flash-(\w+)" role="status">([^<]*)<\/p>/g)].map(
    (match) => [match[1]!, match[2]!] as [string, string],
  );
}

/** Submit the message form the way a browser does (urlencoded body). */
function postMessage(client: TestClient, message: string): Promise<TestResponse> {
  return client.request('/message', { method: 'POST', body: new URLSearchParams({ message }) });
}

describe.each([
  { name: 'memory store', store: () => Promise.resolve('memory:') },
  { name: 'file store', store: async () => `file:${await mkdtemp(join(tmpdir(), 'sample-app-sessions-'))}` },
])('sample app over HTTP ($name)', ({ store }) => {
  let running: RunningApp;
  let storeUrl: string;

  beforeAll(async () => {
    storeUrl = await store();
    vi.stubEnv('SESSION_STORE', storeUrl);
    vi.stubEnv('SESSION_SECRET', SECRET);
    running = await startApp(AppModule);
  });

  afterAll(async () => {
    await running?.close();
    vi.unstubAllEnvs();
    if (storeUrl?.startsWith('file:')) await rm(storeUrl.slice('file:'.length), { recursive: true, force: true });
  });

  it('serves HTML and counts visits per session', async () => {
    const alice = running.client();
    const first = await alice.get('/');
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/html/);
    expect(first.cookie('sid')).toBeDefined();
    expect(visits(first)).toBe(1);
    expect(visits(await alice.get('/'))).toBe(2);
    expect(visits(await alice.get('/'))).toBe(3);

    // Another browser has its own session.
    expect(visits(await running.client().get('/'))).toBe(1);
  });

  it('shows the success flash after the redirect exactly once', async () => {
    const client = running.client();
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
    const client = running.client();
    const posted = await postMessage(client, '   ');
    expect(posted.status).toBe(303);

    const shown = await client.get('/');
    expect(flashes(shown)).toEqual([['error', 'Please write a message before sending.']]);
    expect(shown.text).not.toContain('<li>');
    expect(flashes(await client.get('/'))).toEqual([]);
  });

  it('rejects a form field that is not text', async () => {
    const client = running.client();
    // Extended urlencoded parsing turns `message[nested]=x` into an object.
    await client.request('/message', {
      method: 'POST',
      body: 'message[nested]=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(flashes(await client.get('/'))).toEqual([['error', 'Please write a message before sending.']]);
  });

  it('escapes what the visitor typed', async () => {
    const client = running.client();
    await postMessage(client, '<script>alert("x")</script> & \'more\'');
    const shown = await client.get('/');
    expect(shown.text).not.toContain('<script>');
    const escaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;more&#39;';
    expect(shown.text).toContain(`Thanks! You said: ${escaped}</p>`);
    expect(shown.text).toContain(`<li>${escaped}</li>`);
  });

  it('logs out: the session ends, the flash arrives in a new session and the counter restarts', async () => {
    const client = running.client();
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
    const replay = new TestClient(running.url);
    replay.jar.set('sid', oldCookie!);
    expect(visits(await replay.get('/'))).toBe(1);
  });
});

describe('sessionOptionsFromEnv', () => {
  it('takes the store, secret and proxy setting from the environment', () => {
    const options = sessionOptionsFromEnv({ SESSION_STORE: 'file:./x', SESSION_SECRET: SECRET, TRUST_PROXY: '1' });
    expect(options).toMatchObject({ store: 'file:./x', secret: SECRET, trustProxy: true, cookie: { secure: 'auto' } });
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

describe('views', () => {
  it('escapes every interpolated value but keeps nested fragments as markup', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p title="${'"q"'}">${inner}${['<', html`<br>`]}${undefined}${false}${0}</p>`.value).toBe(
      '<p title="&quot;q&quot;"><b>&lt;i&gt;</b>&lt;<br>0</p>',
    );
  });
});
