// Starts the Nest 11 app of src/app.ts (compiled to dist/ by tsc) and checks it over real HTTP:
// sessions with the memory store and with Redis, flash messages, session events through
// @nestjs/event-emitter, the terminus health indicator, and the OpenID Connect login against the
// repository's test provider. Exits non-zero on the first failure. Run by scripts/nest11-check.sh.
//
// Environment: NEST11_IDP_DIR, the directory of the compiled test/support/oidc-provider.js and
// oidc-browser.js (the script compiles them); REDIS_URL, default redis://127.0.0.1:6379.
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS script: require() is what it checks */
'use strict';
const assert = require('node:assert/strict');
const { createServer } = require('node:net');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const { startApp, EventLog } = require('./dist/app.js');
const WsClient = require('ws');
const { RedisStore } = require('nest-sessions/redis');
const { SessionError } = require('nest-sessions');

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A client with one cookie jar for one origin. */
function client(base) {
  const jar = new Map();
  return {
    jar,
    async request(path, method = 'GET') {
      const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
      const response = await fetch(base + path, { method, headers: cookie ? { cookie } : {}, redirect: 'manual' });
      for (const line of response.headers.getSetCookie()) {
        const [pair, ...attributes] = line.split(';');
        const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
        if (attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '') jar.delete(name);
        else jar.set(name, value);
      }
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
  };
}

const steps = [];
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
  } catch (error) {
    console.error(`not ok - ${name}`);
    throw error;
  }
  steps.push(name);
  console.log(`ok - ${name} (${Date.now() - started} ms)`);
}

/** Sessions, flash, regenerate, destroy, events and health on one running app. */
async function checkSessions(label, store) {
  const port = await freePort();
  const app = await startApp({ port, store });
  try {
    const base = `http://127.0.0.1:${port}`;
    const events = app.get(EventLog);
    await step(`${label}: a session persists across requests with its cookie`, async () => {
      const browser = client(base);
      const first = await browser.request('/count');
      assert.equal(first.status, 200);
      assert.equal(first.body.n, 1);
      assert.ok(browser.jar.has('sid'), `a sid cookie, got ${[...browser.jar.keys()].join(', ')}`);
      assert.equal((await browser.request('/count')).body.n, 2);
      assert.equal((await browser.request('/count')).body.n, 3);
      // Another browser (no cookie) gets a session of its own.
      assert.equal((await client(base).request('/count')).body.n, 1);
      assert.ok(events.created.includes(first.body.id), 'session.created reached @OnEvent() (@nestjs/event-emitter 3)');
    });
    await step(`${label}: a flash message shows once`, async () => {
      const browser = client(base);
      assert.equal((await browser.request('/flash?message=saved', 'POST')).status, 201);
      assert.deepEqual((await browser.request('/flash')).body, { info: ['saved'] });
      assert.deepEqual((await browser.request('/flash')).body, { info: null });
    });
    await step(`${label}: regenerate keeps the data under a new ID, destroy ends the session`, async () => {
      const browser = client(base);
      const { id } = (await browser.request('/count')).body;
      const regenerated = (await browser.request('/regenerate', 'POST')).body.id;
      assert.notEqual(regenerated, id);
      assert.equal((await browser.request('/count')).body.n, 2);
      await browser.request('/logout', 'POST');
      assert.equal((await browser.request('/count')).body.n, 1);
    });
    await step(`${label}: a WebSocket gateway (withSessions(WsAdapter)) shares the HTTP session`, async () => {
      const browser = client(base);
      assert.equal((await browser.request('/count')).body.n, 1);
      const socket = new WsClient(base.replace(/^http/, 'ws') + '/', {
        headers: { cookie: `sid=${browser.jar.get('sid')}`, origin: base },
      });
      await new Promise((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('error', reject);
        socket.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused: ${res.statusCode}`)));
      });
      const reply = new Promise((resolve) => socket.once('message', (data) => resolve(JSON.parse(String(data)))));
      socket.send(JSON.stringify({ event: 'count' }));
      assert.deepEqual(await reply, { event: 'count', data: { n: 2 } });
      socket.close();
      assert.equal((await browser.request('/count')).body.n, 3);
    });
    await step(`${label}: the terminus health indicator reports the store up`, async () => {
      const health = await client(base).request('/health');
      assert.equal(health.status, 200);
      assert.equal(health.body.info.sessions.status, 'up');
    });
  } finally {
    await app.close();
  }
}

/** The OpenID Connect login through AuthModule's routes against the repository's test provider. */
async function checkLogin(idpDir) {
  const { startTestIdp } = await import(pathToFileURL(join(idpDir, 'oidc-provider.js')).href);
  const { OidcTestBrowser } = await import(pathToFileURL(join(idpDir, 'oidc-browser.js')).href);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const oidc = { clientId: 'nest11-app', clientSecret: 'nest11-client-secret-0123456789' };
  const idp = await startTestIdp({
    clients: [{ ...oidc, redirectUris: [`${base}/auth/callback`], postLogoutRedirectUris: [`${base}/`] }],
  });
  const app = await startApp({ port, store: 'memory:', oidc: { ...oidc, issuer: idp.issuer } });
  try {
    await step('auth: a request without a login is refused', async () => {
      console.log("# Nest's BaseExceptionFilter logs the AuthError of this refused request (401), on Nest 11 as on 12");
      const refused = await new OidcTestBrowser().get(`${base}/me`, { headers: { accept: 'application/json' } });
      assert.equal(refused.status, 401);
    });
    await step('auth: the login at the test provider ends logged in, with a new session ID', async () => {
      const browser = new OidcTestBrowser();
      await browser.get(`${base}/count`);
      const before = browser.cookies(base).find((c) => c.name === 'sid')?.value;
      const result = await browser.login(`${base}/auth/login?returnTo=${encodeURIComponent('/me')}`, { login: 'alice' });
      assert.equal(result.response.status, 200, result.response.text);
      assert.deepEqual(JSON.parse(result.response.text), { sub: 'alice', email: 'alice@example.test' });
      const after = browser.cookies(base).find((c) => c.name === 'sid')?.value;
      assert.ok(after && after !== before, 'the login regenerated the session ID');
      // The session from before the login kept its data.
      const count = JSON.parse((await browser.get(`${base}/count`)).text);
      assert.equal(count.n, 2);
    });
  } finally {
    await app.close();
    await idp.close();
  }
}

async function main() {
  const started = Date.now();
  const versions = Object.fromEntries(
    [
      '@nestjs/common',
      '@nestjs/core',
      '@nestjs/platform-express',
      '@nestjs/websockets',
      '@nestjs/platform-ws',
      '@nestjs/event-emitter',
      '@nestjs/terminus',
      'nest-sessions',
    ].map((name) => [name, require(`${name}/package.json`).version]),
  );
  console.log(`node ${process.version}`, versions);
  assert.equal(versions['@nestjs/core'].split('.')[0], '11');
  // One copy of Nest: the package's `import '@nestjs/common'` must find the app's copy.
  assert.equal(require.resolve('@nestjs/common', { paths: [require.resolve('nest-sessions')] }), require.resolve('@nestjs/common'));
  assert.equal(typeof SessionError, 'function');

  await checkSessions('memory store', 'memory:');

  const prefix = `nest11-check:${process.pid}:${Date.now()}:`;
  const redis = new RedisStore({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', keyPrefix: prefix });
  try {
    await checkSessions('redis store', redis);
  } finally {
    await redis.clear();
    await redis.close();
  }

  if (process.env.NEST11_IDP_DIR) await checkLogin(process.env.NEST11_IDP_DIR);
  else console.log('# skipped: the login (NEST11_IDP_DIR not set)');
  console.log(`# ${steps.length} checks passed in ${Date.now() - started} ms`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error('not ok -', error);
    process.exit(1);
  },
);
