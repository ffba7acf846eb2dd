import expressSession from 'express-session';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  fromConnectStore,
  fromExpressSessionOptions,
  isValidSessionId,
  MemoryStore,
  SessionError,
  SessionModule,
  type ExpressSessionOptions,
} from '../src/index.js';
import {
  closeAll,
  COOKIE,
  countCalls,
  defineSecure,
  failCalls,
  guardWriteAfterEnd,
  MINUTE,
  nextSecond,
  parseCookies,
  Reply,
  RevivingStore,
  SECRET,
  selfSignedCertificate,
  send,
  serve,
  sessionIdOf,
  sleep,
  storeAll,
  storeClear,
  storeGet,
  storeLength,
  storeSet,
  SynchronousStore,
  withDefaults,
  type ContractRequest,
  type Handler,
} from './support/express-session-contract.js';

/**
 * express-session's own contract, behaviour by behaviour, run against nest-sessions.
 *
 * Every `it` of express-session's `test/session.js` (129 in the version this file follows) has one
 * test here, in the same describe hierarchy, named by a `// upstream:` comment. Each runs a real
 * Nest Express app configured only through `fromExpressSessionOptions(options)` (options as an
 * express-session app has them; the defaults of express-session's suite, `secret: 'keyboard cat'`
 * and `cookie: { maxAge: 60_000 }`, unless a test sets them), whose every path runs a raw
 * `(req, res)` handler written as an express-session user writes it, over real HTTP on loopback.
 * Stores are express-session's own `MemoryStore` (reaching us through `fromConnectStore`), or
 * small connect stores of ours where the suite used its own.
 *
 * Our cookie value is not express-session's `s:<id>.<signature>`, so session IDs are read with our
 * own `SessionSigner`, from the store, or from `req.session.id` echoed by the handler.
 *
 * Where nest-sessions deliberately behaves otherwise (a security or design choice documented in
 * its TSDoc or docs), the test is in the last describe block and asserts our behaviour:
 *
 * | upstream test | nest-sessions | why |
 * | --- | --- | --- |
 * | should do nothing if req.session exists | the foreign `req.session` is left alone, and our own session still runs beside it | design: both libraries can run side by side during a move (docs/migration.md) |
 * | should error without secret | refused when the options are mapped, not per request | design: configuration errors fail at bootstrap |
 * | should get secret from req.secret | refused: cookie-parser's `req.secret` is not read | security: one explicit secret list signs and verifies |
 * | should pass session fetch error | 503 with a generic JSON body, not 500 with the store's message | security: store errors are not shown to clients |
 * | when response ended › should have saved session with updated cookie expiration | the store's expiry moves, the cookie's Expires is the absolute deadline | design: lifetimes are on the server (docs/migration.md) |
 * | when session without cookie property in store › should pass error from inflate | read as a session with the fallback lifetime, no crash | design: `fromConnectStore` reads such records (its TSDoc) |
 * | genid option › should allow custom function | `'apple'` is refused, the request fails with 500 | security: IDs must be 22–128 URL-safe characters |
 * | genid option › should encode unsafe chars | `'%'` is refused, the request fails with 500 | security: as above |
 * | resave option › when false › should pass session touch error | the connect store's `touch` is never called | design: `fromConnectStore` rewrites the record instead (its TSDoc) |
 * | saveUninitialized option › should pass session save error | 503 instead of the handler's response, reported to `onError` | design: a response never claims a write that failed |
 * | secret option › should sign and unsign with a Buffer | refused at configuration | design: only string secrets (docs/migration.md) |
 * | unset option › should pass session destroy error | 503, reported to `onError` | design: as a failed save |
 * | req.session › should only set-cookie when modified | the cookie is sent once; later changes do not re-send it | design: the persistent cookie lives to the absolute deadline |
 * | req.session › should not be set if store is disconnected | `req.session` is set and the response is 503 | design: an outage is never a silent anonymous session |
 * | req.session › should be set when store reconnects | 503 while disconnected, then sessions again | design: as above |
 * | req.session › .cookie › .* › should forward errors setting cookie | `cookie.expires` is refused at configuration | design: one date for every session cannot be honoured |
 * | req.session › .cookie › .originalMaxAge (3 tests) | the cookie's own lifetime, the absolute timeout (7 days) | design: lifetimes are on the server |
 * | req.session › .cookie › .maxAge › should set cookie expires relative to maxAge | Expires is the absolute deadline, and not re-sent on change | design: lifetimes are on the server |
 * | req.session › .cookie › .expires › when given a Date › should set absolute | a date in the past is refused (`SESSION_READ_ONLY`) | design: a session lifetime is 1 ms to 400 days |
 * | req.session › .cookie › .partitioned › when "true" | refused without `secure` | security/design: browsers refuse a non-Secure Partitioned cookie |
 */

type ConnectMemoryStore = InstanceType<typeof expressSession.MemoryStore>;
const memoryStore = (): ConnectMemoryStore => new expressSession.MemoryStore();

afterEach(closeAll);

/** A handler that numbers sessions in the order they start: `session <n>`. */
function numbering(): Handler {
  let count = 0;
  return (req, res) => {
    req.session.num = req.session.num || ++count;
    res.end(`session ${req.session.num}`);
  };
}

/** A handler that counts the visits of a session and answers the count. */
const counting: Handler = (req, res) => {
  req.session.count = (req.session.count || 0) + 1;
  res.end(String(req.session.count));
};

/** Milliseconds between the cookie's Expires and the response's Date header. */
function expiresIn(reply: Reply): number {
  const expires = reply.cookie()?.attributes.expires;
  expect(expires, 'the cookie has an Expires attribute').toBeTypeOf('string');
  return Date.parse(expires as string) - Date.parse(reply.headers.date!);
}

/** What `fromExpressSessionOptions` threw for `options` (with the suite's defaults). */
function refusal(options: Record<string, unknown>): SessionError {
  try {
    fromExpressSessionOptions(withDefaults(options as Partial<ExpressSessionOptions>));
  } catch (error) {
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).code).toBe('SESSION_OPTIONS_INVALID');
    return error as SessionError;
  }
  throw new Error('expected the options to be refused');
}

describe('session()', () => {
  // upstream: session() › should export constructors
  it('exports what an express-session app is rebuilt with: the options mapper, the store wrapper, the module and a store', () => {
    for (const exported of [fromExpressSessionOptions, fromConnectStore, SessionModule, MemoryStore]) {
      expect(exported).toBeTypeOf('function');
    }
    expect(fromConnectStore(memoryStore())).toMatchObject({ get: expect.any(Function), set: expect.any(Function) });
  });

  // upstream: session() › should do nothing if req.session exists → see the final describe block

  // upstream: session() › should error without secret → see the final describe block

  // upstream: session() › should get secret from req.secret → see the final describe block

  // upstream: session() › should create a new session
  it('starts a session on a first visit: cookie sent, one session stored', async () => {
    const store = memoryStore();
    const app = await serve({ store }, (req, res) => {
      req.session.active = true;
      res.end('session active');
    });
    const reply = await app.request();
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('session active');
    expect(reply.cookie()).toBeDefined();
    expect(await storeLength(store)).toBe(1);
  });

  // upstream: session() › should load session from cookie sid
  it('serves the session the cookie names on the next request', async () => {
    const app = await serve(null, numbering());
    const first = await app.request();
    expect(first.cookie()).toBeDefined();
    expect(first.text).toBe('session 1');
    const second = await app.request('/', { cookie: first });
    expect(second.status).toBe(200);
    expect(second.text).toBe('session 1');
  });

  // upstream: session() › should pass session fetch error → see the final describe block

  // upstream: session() › should treat ENOENT session fetch error as not found
  it('reads a store error coded ENOENT as "no such session" and starts a new one', async () => {
    const store = memoryStore();
    const app = await serve({ store }, numbering());
    const first = await app.request();
    expect(first.text).toBe('session 1');
    failCalls(store, 'get', Object.assign(new Error('no session file'), { code: 'ENOENT' }));
    const second = await app.request('/', { cookie: first });
    expect(second.status).toBe(200);
    expect(second.text).toBe('session 2');
  });

  // upstream: session() › should create multiple sessions
  it('keeps one session per visitor when two first visits arrive together', async () => {
    const store = memoryStore();
    const app = await serve({ store }, (req, res) => {
      const fresh = req.session.num === undefined;
      req.session.num = req.session.num || 1;
      res.end(fresh ? 'session created' : 'session updated');
    });
    const replies = await Promise.all([app.request(), app.request()]);
    expect(replies.map((reply) => reply.text)).toEqual(['session created', 'session created']);
    expect(Object.keys(await storeAll(store))).toHaveLength(2);
  });

  // upstream: session() › should handle empty req.url
  it('copes with a request whose URL an earlier middleware emptied', async () => {
    const app = await serve(null, undefined, {
      // express-session's bare server emptied req.url; behind Express both libraries read the URL
      // the request arrived with, req.originalUrl, first (and Express's router would route no
      // request whose req.url is empty), so that is the one emptied here.
      setup: (req) => {
        req.originalUrl = '';
      },
    });
    const reply = await app.request();
    expect(reply.status).toBe(200);
    expect(reply.cookie()).toBeDefined();
  });

  // upstream: session() › should handle multiple res.end calls
  it('lets a handler call res.end() twice: the first answer stands', async () => {
    const app = await serve(null, (_req, res) => {
      res.setHeader('Content-Type', 'text/plain');
      res.end('Hello, world!');
      res.end();
    });
    const reply = await app.request();
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/plain');
    expect(reply.text).toBe('Hello, world!');
  });

  // upstream: session() › should handle res.end(null) calls
  it('lets a handler end with res.end(null)', async () => {
    const app = await serve(null, (_req, res) => res.end(null as unknown as string));
    const reply = await app.request();
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('');
  });

  // upstream: session() › should handle reserved properties in storage
  it('serves a stored session that has data under a method name (save)', async () => {
    const store = memoryStore();
    let sid = '';
    const app = await serve({ store }, (req, res) => {
      sid = req.session.id;
      req.session.num = req.session.num || 1;
      res.end('session saved');
    });
    const first = await app.request();
    expect(first.text).toBe('session saved');
    const stored = await storeGet(store, sid);
    stored.save = 'nope';
    await storeSet(store, sid, stored);
    const second = await app.request('/', { cookie: first });
    expect(second.status).toBe(200);
    expect(second.text).toBe('session saved');
  });

  // upstream: session() › should only have session data enumerable (and cookie)
  it('lists only the data keys, and cookie, in Object.keys(req.session)', async () => {
    const app = await serve(null, (req, res) => {
      req.session.test1 = 1;
      req.session.test2 = 'b';
      res.end(Object.keys(req.session).sort().join(','));
    });
    expect((await app.request()).text).toBe('cookie,test1,test2');
  });

  // upstream: session() › should not save with bogus req.sessionID
  it('saves nothing and sends no cookie when req.sessionID is given a value that is not a string', async () => {
    const store = memoryStore();
    const app = await serve({ store }, (req, res) => {
      req.sessionID = () => undefined;
      req.session.test1 = 1;
      req.session.test2 = 'b';
      res.end();
    });
    const reply = await app.request();
    expect(reply.status).toBe(200);
    expect(reply.setCookies).toEqual([]);
    expect(await storeLength(store)).toBe(0);
  });

  // upstream: session() › should update cookie expiration when slow write
  it('with rolling, a later response carries a later Expires even when the body is written slowly', async () => {
    const app = await serve({ rolling: true }, (req, res) => {
      req.session.user = 'bob';
      res.write('hello, ');
      setTimeout(() => res.end('world!'), 50);
    });
    const first = await app.request();
    expect(first.text).toBe('hello, world!');
    const expires = first.cookie()?.attributes.expires;
    expect(expires).toBeTypeOf('string');
    await nextSecond();
    const second = await app.request('/', { cookie: first });
    expect(second.status).toBe(200);
    expect(second.cookie()?.attributes.expires).toBeTypeOf('string');
    expect(second.cookie()?.attributes.expires).not.toBe(expires);
  });

  describe('when response ended', () => {
    /** Serve `handler` over a store whose writes land 50 ms late, then check the response waited for it. */
    async function expectSavedBeforeAnswer(handler: Handler, body: string): Promise<void> {
      const store = memoryStore();
      const sets = countCalls(store, 'set', 50);
      const app = await serve({ store }, handler);
      const reply = await app.request();
      expect(reply.status).toBe(200);
      expect(reply.text).toBe(body);
      expect(sets.count).toBe(1);
      // Were the response sent before the write landed, the store would still be empty here.
      expect(await storeLength(store)).toBe(1);
    }

    // upstream: session() › when response ended › should have saved session
    it('has stored the session by the time the answer arrives', async () => {
      await expectSavedBeforeAnswer((req, res) => {
        req.session.hit = true;
        res.end('session saved');
      }, 'session saved');
    });

    // upstream: session() › when response ended › should have saved session even with empty response
    it('has stored the session before an empty answer (Content-Length: 0)', async () => {
      await expectSavedBeforeAnswer((req, res) => {
        req.session.hit = true;
        res.setHeader('Content-Length', '0');
        res.end();
      }, '');
    });

    // upstream: session() › when response ended › should have saved session even with multi-write
    it('has stored the session before an answer written in two parts', async () => {
      await expectSavedBeforeAnswer((req, res) => {
        req.session.hit = true;
        res.setHeader('Content-Length', '12');
        res.write('hello, ');
        res.end('world');
      }, 'hello, world');
    });

    // upstream: session() › when response ended › should have saved session even with non-chunked response
    it('has stored the session before an answer with a Content-Length', async () => {
      await expectSavedBeforeAnswer((req, res) => {
        req.session.hit = true;
        res.setHeader('Content-Length', '13');
        res.end('session saved');
      }, 'session saved');
    });

    // upstream: session() › when response ended › should have saved session with updated cookie expiration → see the final describe block
  });

  describe('when sid not in store', () => {
    // upstream: session() › when sid not in store › should create a new session
    it('starts a new session when the store no longer has the one the cookie names', async () => {
      const store = memoryStore();
      const app = await serve({ store }, numbering());
      const first = await app.request();
      expect(first.text).toBe('session 1');
      await storeClear(store);
      const second = await app.request('/', { cookie: first });
      expect(second.status).toBe(200);
      expect(second.text).toBe('session 2');
    });

    // upstream: session() › when sid not in store › should have a new sid
    it('gives that new session a new ID in a new cookie', async () => {
      const store = memoryStore();
      const app = await serve({ store }, numbering());
      const first = await app.request();
      await storeClear(store);
      const second = await app.request('/', { cookie: first });
      expect(second.text).toBe('session 2');
      expect(second.cookie()).toBeDefined();
      expect(sessionIdOf(second)).not.toBe(sessionIdOf(first));
    });
  });

  describe('when sid not properly signed', () => {
    const activate: Handler = (req, res) => {
      const fresh = req.session.active === undefined;
      req.session.active = true;
      res.end(fresh ? 'session created' : 'session read');
    };

    // upstream: session() › when sid not properly signed › should generate new session
    it('starts a new session, with another ID, for a cookie carrying the bare ID', async () => {
      const store = memoryStore();
      const app = await serve({ store, key: 'sessid' }, activate);
      const first = await app.request();
      expect(first.text).toBe('session created');
      const id = sessionIdOf(first, { name: 'sessid' });
      const second = await app.request('/', { cookie: `sessid=${id}` });
      expect(second.text).toBe('session created');
      expect(second.cookie('sessid')).toBeDefined();
      expect(sessionIdOf(second, { name: 'sessid' })).not.toBe(id);
    });

    // upstream: session() › when sid not properly signed › should not attempt fetch from store
    it('does not read the store for a cookie whose signature fails', async () => {
      const store = memoryStore();
      const app = await serve({ store, key: 'sessid' }, activate);
      const first = await app.request();
      const reads = countCalls(store, 'get');
      // Three characters of the ID cut off: the signature no longer matches.
      const tampered = first.cookiePair('sessid').replace(/...\./, '.');
      const second = await app.request('/', { cookie: tampered });
      expect(second.text).toBe('session created');
      expect(second.cookie('sessid')).toBeDefined();
      expect(reads.count).toBe(0);
    });
  });

  describe('when session expired in store', () => {
    // upstream: session() › when session expired in store › should create a new session
    it('starts a new session once maxAge has passed', async () => {
      const store = memoryStore();
      const app = await serve({ store, cookie: { maxAge: 5 } }, numbering());
      const first = await app.request();
      expect(first.text).toBe('session 1');
      await sleep(20);
      const second = await app.request('/', { cookie: first });
      expect(second.cookie()).toBeDefined();
      expect(second.text).toBe('session 2');
    });

    // upstream: session() › when session expired in store › should have a new sid
    it('gives the session started after expiry a new ID', async () => {
      const store = memoryStore();
      const app = await serve({ store, cookie: { maxAge: 5 } }, numbering());
      const first = await app.request();
      await sleep(20);
      const second = await app.request('/', { cookie: first });
      expect(second.text).toBe('session 2');
      expect(sessionIdOf(second)).not.toBe(sessionIdOf(first));
    });

    // upstream: session() › when session expired in store › should not exist in store
    it('leaves no live session in the store once maxAge has passed', async () => {
      const store = memoryStore();
      const app = await serve({ store, cookie: { maxAge: 5 } }, numbering());
      expect((await app.request()).text).toBe('session 1');
      await sleep(10);
      expect(Object.keys(await storeAll(store))).toHaveLength(0);
    });
  });

  // upstream: session() › when session without cookie property in store › should pass error from inflate → see the final describe block

  describe('proxy option', () => {
    describe('when enabled', () => {
      const options = { proxy: true, cookie: { secure: true, maxAge: 5 } };

      // upstream: session() › proxy option › when enabled › should trust X-Forwarded-Proto when string
      it('sets the Secure cookie when X-Forwarded-Proto says https', async () => {
        const app = await serve(options);
        const reply = await app.request('/', { headers: { 'x-forwarded-proto': 'https' } });
        expect(reply.status).toBe(200);
        expect(reply.cookie()).toBeDefined();
      });

      // upstream: session() › proxy option › when enabled › should trust X-Forwarded-Proto when comma-separated list
      it('reads the first value of a comma-separated X-Forwarded-Proto', async () => {
        const app = await serve(options);
        const reply = await app.request('/', { headers: { 'x-forwarded-proto': 'https,http' } });
        expect(reply.status).toBe(200);
        expect(reply.cookie()).toBeDefined();
      });

      // upstream: session() › proxy option › when enabled › should work when no header
      it('sets no Secure cookie on a request without the header', async () => {
        const app = await serve(options);
        const reply = await app.request();
        expect(reply.status).toBe(200);
        expect(reply.setCookies).toEqual([]);
      });
    });

    /** Sets `req.secure` from an `X-Secure` header, as a proxy-aware middleware would, and answers it. */
    const secureFromHeader = (req: ContractRequest) =>
      defineSecure(req, req.headers['x-secure'] ? (JSON.parse(req.headers['x-secure'] as string) as boolean) : undefined);
    const answerSecure: Handler = (req, res) => res.end(String(req.secure));

    describe('when disabled', () => {
      const options = { proxy: false, cookie: { secure: true } };

      // upstream: session() › proxy option › when disabled › should not trust X-Forwarded-Proto
      it('ignores X-Forwarded-Proto', async () => {
        const app = await serve(options, answerSecure, { setup: secureFromHeader });
        const reply = await app.request('/', { headers: { 'x-forwarded-proto': 'https' } });
        expect(reply.status).toBe(200);
        expect(reply.setCookies).toEqual([]);
      });

      // upstream: session() › proxy option › when disabled › should ignore req.secure
      it('ignores req.secure too: only a TLS connection counts', async () => {
        const app = await serve(options, answerSecure, { setup: secureFromHeader });
        const reply = await app.request('/', { headers: { 'x-forwarded-proto': 'https', 'x-secure': 'true' } });
        expect(reply.status).toBe(200);
        expect(reply.text).toBe('true');
        expect(reply.setCookies).toEqual([]);
      });
    });

    describe('when unspecified', () => {
      const options = { cookie: { secure: true } };

      // upstream: session() › proxy option › when unspecified › should not trust X-Forwarded-Proto
      it('does not read X-Forwarded-Proto itself', async () => {
        const app = await serve(options, answerSecure, { setup: secureFromHeader });
        const reply = await app.request('/', { headers: { 'x-forwarded-proto': 'https' } });
        expect(reply.status).toBe(200);
        expect(reply.setCookies).toEqual([]);
      });

      // upstream: session() › proxy option › when unspecified › should use req.secure
      it('follows req.secure', async () => {
        const app = await serve(options, answerSecure, { setup: secureFromHeader });
        const reply = await app.request('/', { headers: { 'x-forwarded-proto': 'https', 'x-secure': 'true' } });
        expect(reply.status).toBe(200);
        expect(reply.text).toBe('true');
        expect(reply.cookie()).toBeDefined();
      });
    });
  });

  describe('cookie option', () => {
    describe('when "path" set to "/foo/bar"', () => {
      const options = { cookie: { path: '/foo/bar' } };

      // upstream: session() › cookie option › when "path" set to "/foo/bar" › should not set cookie for "/" request
      it('sets no cookie on a request for /', async () => {
        const app = await serve(options);
        const reply = await app.request('/');
        expect(reply.status).toBe(200);
        expect(reply.setCookies).toEqual([]);
      });

      // upstream: session() › cookie option › when "path" set to "/foo/bar" › should not set cookie for "http://foo/bar" request
      it('goes by the request path, not a Host header that looks like a URL', async () => {
        const app = await serve(options);
        const reply = await app.request('/', { headers: { host: 'http://foo/bar' } });
        expect(reply.status).toBe(200);
        expect(reply.setCookies).toEqual([]);
      });

      // upstream: session() › cookie option › when "path" set to "/foo/bar" › should set cookie for "/foo/bar" request
      it('sets the cookie on a request for /foo/bar', async () => {
        const app = await serve(options);
        const reply = await app.request('/foo/bar');
        expect(reply.status).toBe(200);
        expect(reply.cookie()?.attributes.path).toBe('/foo/bar');
      });

      // upstream: session() › cookie option › when "path" set to "/foo/bar" › should set cookie for "/foo/bar/baz" request
      it('sets the cookie on a request below /foo/bar', async () => {
        const app = await serve(options);
        const reply = await app.request('/foo/bar/baz');
        expect(reply.status).toBe(200);
        expect(reply.cookie()).toBeDefined();
      });

      describe('when mounted at "/foo"', () => {
        /** Strips `/foo` from req.url as a mounted sub-app's router does, keeping the original in originalUrl. */
        const mountAtFoo = (req: ContractRequest) => {
          if (req.url?.startsWith('/foo')) {
            req.originalUrl = req.url;
            req.url = req.url.slice('/foo'.length);
          }
        };

        // upstream: session() › cookie option › when "path" set to "/foo/bar" › when mounted at "/foo" › should set cookie for "/foo/bar" request
        it('matches the path the request arrived with (originalUrl)', async () => {
          const app = await serve(options, undefined, { setup: mountAtFoo });
          const reply = await app.request('/foo/bar');
          expect(reply.status).toBe(200);
          expect(reply.cookie()).toBeDefined();
        });

        // upstream: session() › cookie option › when "path" set to "/foo/bar" › when mounted at "/foo" › should not set cookie for "/foo/foo/bar" request
        it('does not match a path that only looks right once the mount point is stripped', async () => {
          const app = await serve(options, undefined, { setup: mountAtFoo });
          const reply = await app.request('/foo/foo/bar');
          expect(reply.status).toBe(200);
          expect(reply.setCookies).toEqual([]);
        });
      });
    });

    describe('when "secure" set to "auto"', () => {
      describe('when "proxy" is "true"', () => {
        // upstream: session() › cookie option › when "secure" set to "auto" › when "proxy" is "true" › should set secure when X-Forwarded-Proto is https
        it('marks the cookie Secure when X-Forwarded-Proto says https', async () => {
          const app = await serve({ proxy: true, cookie: { maxAge: 5, secure: 'auto' } });
          const reply = await app.request('/', { headers: { 'x-forwarded-proto': 'https' } });
          expect(reply.status).toBe(200);
          expect(reply.cookie()?.attributes.secure).toBe(true);
        });
      });

      describe('when "proxy" is "false"', () => {
        // upstream: session() › cookie option › when "secure" set to "auto" › when "proxy" is "false" › should not set secure when X-Forwarded-Proto is https
        it('sets the cookie without Secure despite X-Forwarded-Proto', async () => {
          const app = await serve({ proxy: false, cookie: { maxAge: 5, secure: 'auto' } });
          const reply = await app.request('/', { headers: { 'x-forwarded-proto': 'https' } });
          expect(reply.status).toBe(200);
          expect(reply.cookie()).toBeDefined();
          expect(reply.cookie()?.attributes.secure).toBeUndefined();
        });
      });

      describe('when "proxy" is undefined', () => {
        const setup = (req: ContractRequest) => defineSecure(req, JSON.parse(req.headers['x-secure'] as string) as boolean);
        const answer: Handler = (req, res) => res.end(String(req.secure));

        // upstream: session() › cookie option › when "secure" set to "auto" › when "proxy" is undefined › should set secure if req.secure = true
        it('marks the cookie Secure when req.secure is true', async () => {
          const app = await serve({ cookie: { secure: 'auto' } }, answer, { setup });
          const reply = await app.request('/', { headers: { 'x-secure': 'true' } });
          expect(reply.text).toBe('true');
          expect(reply.cookie()?.attributes.secure).toBe(true);
        });

        // upstream: session() › cookie option › when "secure" set to "auto" › when "proxy" is undefined › should not set secure if req.secure = false
        it('sets the cookie without Secure when req.secure is false', async () => {
          const app = await serve({ cookie: { secure: 'auto' } }, answer, { setup });
          const reply = await app.request('/', { headers: { 'x-secure': 'false' } });
          expect(reply.text).toBe('false');
          expect(reply.cookie()).toBeDefined();
          expect(reply.cookie()?.attributes.secure).toBeUndefined();
        });
      });
    });
  });

  describe('genid option', () => {
    // upstream: session() › genid option › should reject non-function values
    it('refuses a genid that is not a function', () => {
      expect(refusal({ genid: 'bogus!' }).message).toMatch(/genid.*must/);
      // Named first even with no secret given, as express-session names it.
      expect(() => fromExpressSessionOptions({ genid: 'bogus!' } as unknown as ExpressSessionOptions)).toThrow(/genid.*must/);
    });

    // upstream: session() › genid option › should provide default generator
    it('makes random IDs by default', async () => {
      const app = await serve();
      const [one, two] = await Promise.all([app.request(), app.request()]);
      expect(isValidSessionId(sessionIdOf(one))).toBe(true);
      expect(sessionIdOf(one)).not.toBe(sessionIdOf(two));
    });

    // upstream: session() › genid option › should allow custom function → see the final describe block

    // upstream: session() › genid option › should encode unsafe chars → see the final describe block

    // upstream: session() › genid option › should provide req argument
    it('passes the request to genid', async () => {
      const idFor = (url: string) => `url-${Buffer.from(url).toString('base64url')}`.padEnd(24, '_');
      const app = await serve({ genid: (req) => idFor(req.url!) });
      const reply = await app.request('/foo');
      expect(reply.status).toBe(200);
      expect(sessionIdOf(reply)).toBe(idFor('/foo'));
    });
  });

  describe('key option', () => {
    // upstream: session() › key option › should default to "connect.sid"
    it('names the cookie connect.sid by default', async () => {
      const reply = await (await serve()).request();
      expect(reply.cookie(COOKIE)).toBeDefined();
    });

    // upstream: session() › key option › should allow overriding
    it('names the cookie after key', async () => {
      const reply = await (await serve({ key: 'session_id' })).request();
      expect(reply.cookie('session_id')).toBeDefined();
      expect(reply.cookie(COOKIE)).toBeUndefined();
    });
  });

  describe('name option', () => {
    // upstream: session() › name option › should default to "connect.sid"
    it('names the cookie connect.sid when no name is given', async () => {
      const reply = await (await serve({})).request();
      expect(reply.setCookies.map((line) => line.split('=')[0])).toEqual([COOKIE]);
    });

    // upstream: session() › name option › should set the cookie name
    it('names the cookie after name', async () => {
      const reply = await (await serve({ name: 'session_id' })).request();
      expect(reply.cookie('session_id')).toBeDefined();
      expect(reply.cookie(COOKIE)).toBeUndefined();
    });
  });

  describe('rolling option', () => {
    const setUser: Handler = (req, res) => {
      req.session.user = 'bob';
      res.end();
    };

    // upstream: session() › rolling option › should default to false
    it('is off by default: an unchanged stored session gets no cookie', async () => {
      const app = await serve(null, setUser);
      const first = await app.request();
      expect(first.cookie()).toBeDefined();
      const second = await app.request('/', { cookie: first });
      expect(second.status).toBe(200);
      expect(second.setCookies).toEqual([]);
    });

    // upstream: session() › rolling option › should force cookie on unmodified session
    it('re-sends the cookie of an unchanged stored session', async () => {
      const app = await serve({ rolling: true }, setUser);
      const first = await app.request();
      expect(first.cookie()).toBeDefined();
      const second = await app.request('/', { cookie: first });
      expect(second.cookie()).toBeDefined();
    });

    // upstream: session() › rolling option › should not force cookie on uninitialized session if saveUninitialized option is set to false
    it('does not start an empty session when saveUninitialized is false', async () => {
      const store = memoryStore();
      const sets = countCalls(store, 'set');
      const app = await serve({ store, rolling: true, saveUninitialized: false });
      const reply = await app.request();
      expect(reply.status).toBe(200);
      expect(reply.setCookies).toEqual([]);
      expect(sets.count).toBe(0);
    });

    // upstream: session() › rolling option › should force cookie and save uninitialized session if saveUninitialized option is set to true
    it('stores an empty session and sends its cookie when saveUninitialized is true', async () => {
      const store = memoryStore();
      const sets = countCalls(store, 'set');
      const app = await serve({ store, rolling: true, saveUninitialized: true });
      const reply = await app.request();
      expect(reply.cookie()).toBeDefined();
      expect(sets.count).toBe(1);
    });

    // upstream: session() › rolling option › should force cookie and save modified session even if saveUninitialized option is set to false
    it('stores a session given data and sends its cookie, saveUninitialized false or not', async () => {
      const store = memoryStore();
      const sets = countCalls(store, 'set');
      const app = await serve({ store, rolling: true, saveUninitialized: false }, setUser);
      const reply = await app.request();
      expect(reply.cookie()).toBeDefined();
      expect(sets.count).toBe(1);
    });
  });

  describe('resave option', () => {
    const setUser: Handler = (req, res) => {
      req.session.user = 'bob';
      res.end();
    };

    /** Two requests of one visitor; how many store writes each made. */
    async function writesPerRequest(options: Partial<ExpressSessionOptions>, handler: Handler): Promise<[number, number]> {
      const store = memoryStore();
      const sets = countCalls(store, 'set');
      const app = await serve({ store, ...options }, handler);
      const first = await app.request();
      const afterFirst = sets.count;
      await app.request('/', { cookie: first });
      return [afterFirst, sets.count - afterFirst];
    }

    // upstream: session() › resave option › should default to true
    it('is on by default: an unchanged session is written again', async () => {
      expect(await writesPerRequest({}, setUser)).toEqual([1, 1]);
    });

    describe('when true', () => {
      // upstream: session() › resave option › when true › should force save on unmodified session
      it('writes an unchanged session again', async () => {
        expect(await writesPerRequest({ resave: true }, setUser)).toEqual([1, 1]);
      });
    });

    describe('when false', () => {
      // upstream: session() › resave option › when false › should prevent save on unmodified session
      it('does not write an unchanged session', async () => {
        expect(await writesPerRequest({ resave: false }, setUser)).toEqual([1, 0]);
      });

      // upstream: session() › resave option › when false › should still save modified session
      it('still writes a session that changed', async () => {
        const store = memoryStore();
        const sets = countCalls(store, 'set');
        const app = await serve({ resave: false, store }, (req, res) => {
          if (req.method === 'PUT') req.session.token = req.url!.slice(1);
          res.end(`token=${req.session.token || ''}`);
        });
        const put = await app.request('/w6RHhwaA', { method: 'PUT' });
        expect(put.text).toBe('token=w6RHhwaA');
        expect(sets.count).toBe(1);
        const get = await app.request('/', { cookie: put });
        expect(get.text).toBe('token=w6RHhwaA');
        expect(sets.count).toBe(1);
        const again = await app.request('/zfQ3rzM3', { method: 'PUT', cookie: put });
        expect(again.text).toBe('token=zfQ3rzM3');
        expect(sets.count).toBe(2);
      });

      // upstream: session() › resave option › when false › should detect a "cookie" property as modified
      it('sees a change to a nested member named cookie', async () => {
        const nested: Handler = (req, res) => {
          req.session.user = req.session.user || {};
          req.session.user.name = 'bob';
          req.session.user.cookie = req.session.user.cookie || 0;
          req.session.user.cookie++;
          res.end();
        };
        expect(await writesPerRequest({ resave: false }, nested)).toEqual([1, 1]);
      });

      // upstream: session() › resave option › when false › should pass session touch error → see the final describe block
    });
  });

  describe('saveUninitialized option', () => {
    /** One first visit: how many store writes, and whether a cookie came. */
    async function firstVisit(options: Partial<ExpressSessionOptions>, handler?: Handler): Promise<{ sets: number; cookie: boolean }> {
      const store = memoryStore();
      const sets = countCalls(store, 'set');
      const reply = await (await serve({ store, ...options }, handler)).request();
      expect(reply.status).toBe(200);
      return { sets: sets.count, cookie: reply.cookie() !== undefined };
    }

    // upstream: session() › saveUninitialized option › should default to true
    it('is on by default: an empty session is stored and its cookie sent', async () => {
      expect(await firstVisit({})).toEqual({ sets: 1, cookie: true });
    });

    // upstream: session() › saveUninitialized option › should force save of uninitialized session
    it('stores an empty session when true', async () => {
      expect(await firstVisit({ saveUninitialized: true })).toEqual({ sets: 1, cookie: true });
    });

    // upstream: session() › saveUninitialized option › should prevent save of uninitialized session
    it('stores nothing and sends no cookie for an empty session when false', async () => {
      expect(await firstVisit({ saveUninitialized: false })).toEqual({ sets: 0, cookie: false });
    });

    // upstream: session() › saveUninitialized option › should still save modified session
    it('still stores a session given data when false', async () => {
      expect(await firstVisit({ saveUninitialized: false }, counting)).toEqual({ sets: 1, cookie: true });
    });

    // upstream: session() › saveUninitialized option › should pass session save error → see the final describe block

    // upstream: session() › saveUninitialized option › should prevent uninitialized session from being touched
    it('neither touches nor stores an empty session when false', async () => {
      const store = memoryStore();
      const touches = countCalls(store, 'touch');
      const app = await serve({ saveUninitialized: false, store, cookie: { maxAge: MINUTE } });
      expect((await app.request()).status).toBe(200);
      expect(touches.count).toBe(0);
      expect(await storeLength(store)).toBe(0);
    });
  });

  describe('secret option', () => {
    const remember: Handler = (req, res) => {
      if (!req.session.user) {
        req.session.user = 'bob';
        res.end('set');
      } else {
        res.end(`get:${JSON.stringify(req.session.user)}`);
      }
    };

    // upstream: session() › secret option › should reject empty arrays
    it('refuses an empty list of secrets', () => {
      expect(refusal({ secret: [] }).message).toMatch(/secret option array/);
    });

    // upstream: session() › secret option › should sign and unsign with a string
    it('signs and verifies with a string secret', async () => {
      const app = await serve({ secret: 'awesome cat' }, remember);
      const first = await app.request();
      expect(first.text).toBe('set');
      expect(sessionIdOf(first, { secret: 'awesome cat' })).toBeTruthy();
      expect((await app.request('/', { cookie: first })).text).toBe('get:"bob"');
    });

    // upstream: session() › secret option › should sign and unsign with a Buffer → see the final describe block

    describe('when an array', () => {
      const setUser: Handler = (req, res) => {
        req.session.user = 'bob';
        res.end(req.session.user);
      };
      const echoUser: Handler = (req, res) => res.end(String(req.session.user));

      // upstream: session() › secret option › when an array › should sign cookies
      it('signs cookies with a list of secrets', async () => {
        const reply = await (await serve({ secret: ['keyboard cat', 'nyan cat'] }, setUser)).request();
        expect(reply.text).toBe('bob');
        expect(sessionIdOf(reply, { secret: 'keyboard cat' })).toBeTruthy();
      });

      // upstream: session() › secret option › when an array › should sign cookies with first element
      it('signs with the first secret only', async () => {
        const store = memoryStore();
        const signer = await serve({ secret: ['keyboard cat', 'nyan cat'], store }, setUser);
        const onlySecond = await serve({ secret: 'nyan cat', store }, echoUser);
        const first = await signer.request();
        expect(first.text).toBe('bob');
        expect((await onlySecond.request('/', { cookie: first })).text).toBe('undefined');
      });

      // upstream: session() › secret option › when an array › should read cookies using all elements
      it('verifies with every secret of the list', async () => {
        const store = memoryStore();
        const old = await serve({ secret: 'nyan cat', store }, setUser);
        const rotated = await serve({ secret: ['keyboard cat', 'nyan cat'], store }, echoUser);
        const first = await old.request();
        expect(first.text).toBe('bob');
        expect((await rotated.request('/', { cookie: first })).text).toBe('bob');
      });
    });
  });

  describe('unset option', () => {
    /** Counts visits; on the second, lets go of the session with `req.session = null`. */
    const dropOnSecond: Handler = (req, res) => {
      req.session.count = (req.session.count || 0) + 1;
      if (req.session.count === 2) req.session = null;
      res.end();
    };

    // upstream: session() › unset option › should reject unknown values
    it('refuses a value other than destroy or keep', () => {
      expect(refusal({ unset: 'bogus!' }).message).toMatch(/unset.*must/);
      expect(() => fromExpressSessionOptions({ unset: 'bogus!' } as unknown as ExpressSessionOptions)).toThrow(/unset.*must/);
    });

    // upstream: session() › unset option › should default to keep
    it('keeps the stored session on req.session = null by default', async () => {
      const store = memoryStore();
      const app = await serve({ store }, dropOnSecond);
      const first = await app.request();
      expect(await storeLength(store)).toBe(1);
      expect((await app.request('/', { cookie: first })).status).toBe(200);
      expect(await storeLength(store)).toBe(1);
    });

    // upstream: session() › unset option › should allow destroy on req.session = null
    it("destroys the stored session on req.session = null with 'destroy'", async () => {
      const store = memoryStore();
      const app = await serve({ store, unset: 'destroy' }, dropOnSecond);
      const first = await app.request();
      expect(await storeLength(store)).toBe(1);
      expect((await app.request('/', { cookie: first })).status).toBe(200);
      expect(await storeLength(store)).toBe(0);
    });

    // upstream: session() › unset option › should not set cookie if initial session destroyed
    it('sends no cookie and stores nothing for a new session set to null', async () => {
      const store = memoryStore();
      const app = await serve({ store, unset: 'destroy' }, (req, res) => {
        req.session = null;
        res.end();
      });
      const reply = await app.request();
      expect(reply.status).toBe(200);
      expect(reply.setCookies).toEqual([]);
      expect(await storeLength(store)).toBe(0);
    });

    // upstream: session() › unset option › should pass session destroy error → see the final describe block
  });

  describe('res.end patch', () => {
    const writeInTwo: Handler = (req, res) => {
      req.session.hit = true;
      res.write('hello, ');
      res.end('world');
    };

    // upstream: session() › res.end patch › should correctly handle res.end/res.write patched prior
    it('works over res.write/res.end wrapped before the session middleware', async () => {
      const app = await serve(null, writeInTwo, { setup: (_req, res) => guardWriteAfterEnd(res) });
      const reply = await app.request();
      expect(reply.status).toBe(200);
      expect(reply.text).toBe('hello, world');
    });

    // upstream: session() › res.end patch › should correctly handle res.end/res.write patched after
    it('works under res.write/res.end wrapped by the handler', async () => {
      const app = await serve(null, (req, res) => {
        guardWriteAfterEnd(res);
        writeInTwo(req, res);
      });
      const reply = await app.request();
      expect(reply.status).toBe(200);
      expect(reply.text).toBe('hello, world');
    });

    // upstream: session() › res.end patch › should error when res.end is called twice
    it('fails a second res.end() with a header change as plain Node does', async () => {
      const errors: Array<string | undefined> = [];
      const endTwice = (_req: unknown, res: http.ServerResponse) => {
        res.end();
        try {
          res.setHeader('Content-Length', '3');
          res.end('foo');
        } catch (error) {
          errors.push((error as Error).message);
          return;
        }
        errors.push(undefined);
      };
      const plain = http.createServer(endTwice);
      await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
      try {
        const reference = await send((plain.address() as { port: number }).port, '/');
        const ours = await (await serve(null, endTwice)).request();
        expect(errors).toHaveLength(2);
        expect(errors[1]).toBe(errors[0]);
        expect(ours.status).toBe(reference.status);
        expect(ours.text).toBe(reference.text);
      } finally {
        await new Promise((resolve) => plain.close(resolve));
      }
    });
  });

  describe('req.session', () => {
    // upstream: session() › req.session › should persist
    it('keeps what a request stored for the next one', async () => {
      const store = memoryStore();
      const app = await serve({ store }, (req, res) => {
        req.session.count = (req.session.count || 0) + 1;
        res.end(`hits: ${req.session.count}`);
      });
      const first = await app.request();
      expect(first.text).toBe('hits: 1');
      expect(await storeGet(store, sessionIdOf(first))).toMatchObject({ count: 1 });
      expect((await app.request('/', { cookie: first })).text).toBe('hits: 2');
    });

    // upstream: session() › req.session › should only set-cookie when modified → see the final describe block

    // upstream: session() › req.session › should not have enumerable methods
    it('has no enumerable methods: for...in sees the data keys and cookie', async () => {
      const app = await serve(null, (req, res) => {
        req.session.foo = 'foo';
        req.session.bar = 'bar';
        const keys: string[] = [];
        for (const key in req.session) keys.push(key);
        res.end(keys.sort().join(','));
      });
      expect((await app.request()).text).toBe('bar,cookie,foo');
    });

    // upstream: session() › req.session › should not be set if store is disconnected → see the final describe block

    // upstream: session() › req.session › should be set when store reconnects → see the final describe block

    describe('.destroy()', () => {
      // upstream: session() › req.session › .destroy() › should destroy the previous session
      it('ends the session: req.session is gone afterwards, and no cookie is sent', async () => {
        const app = await serve(null, (req, res) => {
          req.session.destroy((err?: unknown) => {
            if (err) res.statusCode = 500;
            res.end(String(req.session));
          });
        });
        const reply = await app.request();
        expect(reply.status).toBe(200);
        expect(reply.text).toBe('undefined');
        expect(reply.setCookies).toEqual([]);
      });
    });

    describe('.regenerate()', () => {
      // upstream: session() › req.session › .regenerate() › should destroy/replace the previous session
      it('moves the session to a new ID and sends the new cookie', async () => {
        const app = await serve(null, (req, res) => {
          const id = req.session.id;
          req.session.regenerate((err?: unknown) => {
            if (err) res.statusCode = 500;
            res.end(String(req.session.id === id));
          });
        });
        const first = await app.request();
        expect(first.cookie()).toBeDefined();
        const second = await app.request('/', { cookie: first });
        expect(second.status).toBe(200);
        expect(second.text).toBe('false');
        expect(sessionIdOf(second)).not.toBe(sessionIdOf(first));
      });
    });

    describe('.reload()', () => {
      // upstream: session() › req.session › .reload() › should reload session from store
      it('reads back what another request stored meanwhile, dropping its own unsaved change', async () => {
        let port = 0;
        let cookie = '';
        const app = await serve(null, (req, res) => {
          if (req.url === '/') {
            req.session.active = true;
            res.end('session created');
            return;
          }
          req.session.url = req.url;
          if (req.url === '/bar') {
            res.end(`saw ${req.session.url}`);
            return;
          }
          void send(port, '/bar', { cookie }).then((inner) => {
            if (inner.text !== 'saw /bar') return res.end(`the other request answered ${inner.text}`);
            req.session.reload((err?: unknown) => {
              if (err) res.statusCode = 500;
              res.end(`saw ${req.session.url}`);
            });
          });
        });
        port = app.port;
        const first = await app.request('/');
        expect(first.text).toBe('session created');
        cookie = first.cookiePair();
        const reply = await app.request('/foo', { cookie });
        expect(reply.status).toBe(200);
        expect(reply.text).toBe('saw /bar');
      });

      // upstream: session() › req.session › .reload() › should error is session missing
      it('calls back with an error when the store no longer has the session', async () => {
        const store = memoryStore();
        const app = await serve({ store }, (req, res) => {
          if (req.url === '/') {
            req.session.active = true;
            res.end('session created');
            return;
          }
          void storeClear(store).then(() =>
            req.session.reload((err?: Error) => {
              res.statusCode = err ? 500 : 200;
              res.end(err ? err.message : '');
            }),
          );
        });
        const first = await app.request('/');
        const reply = await app.request('/foo', { cookie: first });
        expect(reply.status).toBe(500);
        expect(reply.text).toMatch(/session/);
      });

      // upstream: session() › req.session › .reload() › should not override an overridden `reload` in case of errors
      it('survives reload() called again from its own failing callback, many times over', async () => {
        const store = memoryStore();
        const app = await serve({ store, resave: false }, (req, res) => {
          if (req.url === '/') {
            req.session.active = true;
            res.end('session created');
            return;
          }
          void storeClear(store).then(() => {
            let left = 20;
            const again = () => {
              if (!--left) {
                res.end('ok');
                return;
              }
              try {
                req.session.reload(again);
              } catch (error) {
                res.statusCode = 500;
                res.end((error as Error).message);
              }
            };
            again();
          });
        });
        const first = await app.request('/');
        const reply = await app.request('/foo', { cookie: first });
        expect(reply.status).toBe(200);
        expect(reply.text).toBe('ok');
      });
    });

    describe('.save()', () => {
      /** Sets `hit`, saves, then answers `saved`; counts the store writes of each request. */
      async function writesWithSave(options: Partial<ExpressSessionOptions>, handler: Handler): Promise<number[]> {
        const store = memoryStore();
        const sets = countCalls(store, 'set');
        const app = await serve({ store, ...options }, handler);
        const first = await app.request();
        expect(first.text).toBe('saved');
        const afterFirst = sets.count;
        const second = await app.request('/', { cookie: first });
        expect(second.text).toBe('saved');
        return [afterFirst, sets.count - afterFirst];
      }
      const hitAndSave: Handler = (req, res) => {
        req.session.hit = true;
        req.session.save((err?: Error) => res.end(err ? err.message : 'saved'));
      };

      // upstream: session() › req.session › .save() › should save session to store
      it('has the session in the store when its callback runs', async () => {
        const store = memoryStore();
        const app = await serve({ store }, (req, res) => {
          req.session.hit = true;
          req.session.save((err?: Error) => {
            if (err) return res.end(err.message);
            void storeGet(store, req.session.id).then((stored) => res.end(stored ? 'stored' : 'empty'));
          });
        });
        expect((await app.request()).text).toBe('stored');
      });

      // upstream: session() › req.session › .save() › should prevent end-of-request save
      it('is the only write of the request: the end of the response does not write again', async () => {
        expect(await writesWithSave({}, hitAndSave)).toEqual([1, 1]);
      });

      // upstream: session() › req.session › .save() › should prevent end-of-request save on reloaded session
      it('is the only write of the request after a reload()', async () => {
        const reloadThenSave: Handler = (req, res) => {
          req.session.hit = true;
          req.session.reload(() => req.session.save((err?: Error) => res.end(err ? err.message : 'saved')));
        };
        expect(await writesWithSave({}, reloadThenSave)).toEqual([1, 1]);
      });

      describe('when saveUninitialized is false', () => {
        // upstream: session() › req.session › .save() › when saveUninitialized is false › should prevent end-of-request save
        it('is the only write of the request with saveUninitialized false too', async () => {
          expect(await writesWithSave({ saveUninitialized: false }, hitAndSave)).toEqual([1, 1]);
        });
      });
    });

    describe('.touch()', () => {
      // upstream: session() › req.session › .touch() › should reset session expiration
      it('moves the stored expiry on a later request', async () => {
        const store = memoryStore();
        const app = await serve({ resave: false, store, cookie: { maxAge: MINUTE } }, (req, res) => {
          req.session.hit = true;
          req.session.touch();
          res.end();
        });
        const first = await app.request();
        const id = sessionIdOf(first);
        const before = new Date((await storeGet(store, id)).cookie.expires).getTime();
        await sleep(100);
        await app.request('/', { cookie: first });
        const after = new Date((await storeGet(store, id)).cookie.expires).getTime();
        expect(after).toBeGreaterThan(before);
      });
    });

    describe('.cookie', () => {
      describe('.*', () => {
        // upstream: session() › req.session › .cookie › .* › should serialize as parameters
        it('sends the attributes a handler set on req.session.cookie', async () => {
          const app = await serve({ proxy: true }, (req, res) => {
            req.session.cookie.httpOnly = false;
            req.session.cookie.secure = true;
            res.end();
          });
          const reply = await app.request('/', { headers: { 'x-forwarded-proto': 'https' } });
          expect(reply.cookie()?.attributes.httponly).toBeUndefined();
          expect(reply.cookie()?.attributes.secure).toBe(true);
        });

        // upstream: session() › req.session › .cookie › .* › should default to a browser-session length cookie
        it('sends a browser-session cookie (no Expires) without maxAge', async () => {
          const reply = await (await serve({ cookie: { path: '/admin' } })).request('/admin');
          expect(reply.cookie()).toBeDefined();
          expect(reply.cookie()?.attributes.expires).toBeUndefined();
        });

        // upstream: session() › req.session › .cookie › .* › should Set-Cookie only once for browser-session cookies
        it('sends a browser-session cookie once, not again on the next request', async () => {
          const app = await serve({ cookie: { path: '/admin' } });
          const first = await app.request('/admin/foo');
          expect(first.cookie()).toBeDefined();
          const second = await app.request('/admin', { cookie: first });
          expect(second.status).toBe(200);
          expect(second.setCookies).toEqual([]);
        });

        // upstream: session() › req.session › .cookie › .* › should override defaults
        it('lets the cookie options and then the handler override the defaults', async () => {
          const cookie = { httpOnly: false, maxAge: 5000, path: '/admin', priority: 'high' as const, secure: true };
          const app = await serve({ cookie }, (req, res) => {
            req.session.cookie.secure = false;
            res.end();
          });
          const attributes = (await app.request('/admin')).cookie()?.attributes;
          expect(attributes?.expires).toBeTypeOf('string');
          expect(attributes?.httponly).toBeUndefined();
          expect(attributes?.path).toBe('/admin');
          expect(attributes?.secure).toBeUndefined();
          expect(attributes?.priority).toBe('High');
        });

        // upstream: session() › req.session › .cookie › .* › should forward errors setting cookie → see the final describe block

        // upstream: session() › req.session › .cookie › .* › should preserve cookies set before writeHead is called
        it('keeps a cookie the handler set with setHeader', async () => {
          const app = await serve(null, (_req, res) => {
            res.setHeader('Set-Cookie', 'previous=cookieValue; Path=/; HttpOnly');
            res.end();
          });
          const reply = await app.request();
          expect(reply.cookie('previous')?.value).toBe('cookieValue');
          expect(reply.cookie()).toBeDefined();
        });

        // upstream: session() › req.session › .cookie › .* › should preserve cookies set in writeHead
        it('keeps a cookie the handler gave writeHead', async () => {
          const app = await serve(null, (_req, res) => {
            res.writeHead(200, { 'Set-Cookie': 'previous=cookieValue; Path=/; HttpOnly' });
            res.end();
          });
          const reply = await app.request();
          expect(reply.cookie('previous')?.value).toBe('cookieValue');
          expect(reply.cookie()).toBeDefined();
        });
      });

      // upstream: session() › req.session › .cookie › .originalMaxAge › should equal original maxAge → see the final describe block
      // upstream: session() › req.session › .cookie › .originalMaxAge › should equal original maxAge for all requests → see the final describe block
      // upstream: session() › req.session › .cookie › .originalMaxAge › should equal original maxAge for all requests (SmartStore) → see the final describe block

      describe('.secure', () => {
        const options = { secret: 'keyboard cat', cookie: { secure: true } };

        // upstream: session() › req.session › .cookie › .secure › should set cookie when secure
        it('sets a Secure cookie over a TLS connection', async () => {
          const app = await serve(options, undefined, { tls: selfSignedCertificate() });
          const reply = await app.request();
          expect(reply.status).toBe(200);
          expect(reply.cookie()?.attributes.secure).toBe(true);
        });

        // upstream: session() › req.session › .cookie › .secure › should not set-cookie when insecure
        it('sets no Secure cookie over plain HTTP', async () => {
          const reply = await (await serve(options)).request();
          expect(reply.status).toBe(200);
          expect(reply.setCookies).toEqual([]);
        });
      });

      describe('.maxAge', () => {
        /**
         * A visitor's requests, in order, to an app with `maxAge: 2000` that changes
         * `req.session.cookie.maxAge` on its third request (5000) and fourth (3_000_000_000).
         */
        async function visits(count: number): Promise<Reply[]> {
          const app = await serve({ cookie: { maxAge: 2000 } }, (req, res) => {
            req.session.count = (req.session.count ?? -1) + 1;
            if (req.session.count === 2) req.session.cookie.maxAge = 5000;
            if (req.session.count === 3) req.session.cookie.maxAge = 3_000_000_000;
            res.end(String(req.session.count));
          });
          const replies = [await app.request()];
          while (replies.length < count) replies.push(await app.request('/', { cookie: replies[0] }));
          return replies;
        }

        // upstream: session() › req.session › .cookie › .maxAge › should set cookie expires relative to maxAge → see the final describe block

        // upstream: session() › req.session › .cookie › .maxAge › should modify cookie expires when changed
        it('re-sends the cookie expiring maxAge from now when a handler changes maxAge', async () => {
          const replies = await visits(3);
          expect(replies[2].text).toBe('2');
          // Expires and Date have second precision.
          expect(Math.abs(expiresIn(replies[2]) - 5000)).toBeLessThanOrEqual(1000);
        });

        // upstream: session() › req.session › .cookie › .maxAge › should modify cookie expires when changed to large value
        it('takes a maxAge of weeks (3e9 ms) as well', async () => {
          const replies = await visits(4);
          expect(replies[3].text).toBe('3');
          expect(Math.abs(expiresIn(replies[3]) - 3_000_000_000)).toBeLessThanOrEqual(1000);
        });
      });

      describe('.expires', () => {
        // upstream: session() › req.session › .cookie › .expires › when given a Date › should set absolute → see the final describe block

        describe('when null', () => {
          const browserSession: Handler = (req, res) => {
            req.session.cookie.expires = null;
            res.end();
          };

          // upstream: session() › req.session › .cookie › .expires › when null › should be a browser-session cookie
          it('makes the cookie a browser-session one (no Expires)', async () => {
            const reply = await (await serve(null, browserSession)).request();
            expect(reply.cookie()).toBeDefined();
            expect(reply.cookie()?.attributes.expires).toBeUndefined();
          });

          // upstream: session() › req.session › .cookie › .expires › when null › should not reset cookie
          it('does not re-send the cookie when expires is set to null again', async () => {
            const app = await serve(null, browserSession);
            const first = await app.request();
            expect(first.cookie()?.attributes.expires).toBeUndefined();
            const second = await app.request('/', { cookie: first });
            expect(second.status).toBe(200);
            expect(second.setCookies).toEqual([]);
          });

          // upstream: session() › req.session › .cookie › .expires › when null › should not reset cookie when modified
          it('does not re-send the cookie when expires is set to null again and data changed', async () => {
            const app = await serve(null, (req, res) => {
              req.session.cookie.expires = null;
              req.session.hit = (req.session.hit || 0) + 1;
              res.end();
            });
            const first = await app.request();
            expect(first.cookie()?.attributes.expires).toBeUndefined();
            const second = await app.request('/', { cookie: first });
            expect(second.status).toBe(200);
            expect(second.setCookies).toEqual([]);
          });
        });
      });

      describe('.partitioned', () => {
        describe('by default', () => {
          // upstream: session() › req.session › .cookie › .partitioned › by default › should not set partitioned attribute
          it('sends no Partitioned attribute', async () => {
            const reply = await (await serve()).request();
            expect(reply.cookie()).toBeDefined();
            expect(reply.cookie()?.attributes.partitioned).toBeUndefined();
          });
        });

        describe('when "false"', () => {
          // upstream: session() › req.session › .cookie › .partitioned › when "false" › should not set partitioned attribute
          it('sends no Partitioned attribute when false', async () => {
            const reply = await (await serve({ cookie: { partitioned: false } })).request();
            expect(reply.cookie()).toBeDefined();
            expect(reply.cookie()?.attributes.partitioned).toBeUndefined();
          });
        });

        // upstream: session() › req.session › .cookie › .partitioned › when "true" › should set partitioned attribute → see the final describe block
      });
    });
  });

  describe('synchronous store', () => {
    // upstream: session() › synchronous store › should respond correctly on save
    it('answers when the store writes synchronously', async () => {
      const app = await serve({ store: new SynchronousStore() }, (req, res) => {
        req.session.count = (req.session.count || 0) + 1;
        res.end(`hits: ${req.session.count}`);
      });
      const reply = await app.request();
      expect(reply.status).toBe(200);
      expect(reply.text).toBe('hits: 1');
    });

    // upstream: session() › synchronous store › should respond correctly on destroy
    it('answers when the store destroys synchronously', async () => {
      const store = new SynchronousStore();
      const app = await serve({ store, unset: 'destroy' }, (req, res) => {
        const count = (req.session.count || 0) + 1;
        req.session.count = count;
        if (count > 1) {
          req.session = null;
          res.write('destroyed\n');
        }
        res.end(`hits: ${count}`);
      });
      const first = await app.request();
      expect(first.text).toBe('hits: 1');
      const second = await app.request('/', { cookie: first });
      expect(second.status).toBe(200);
      expect(second.text).toBe('destroyed\nhits: 2');
      expect(store.sessions.size).toBe(0);
    });
  });

  describe('cookieParser()', () => {
    /** cookie-parser mounted first, then a middleware that replaces the Cookie header it parsed. */
    const parsedThenReplaced: Handler = (req, res) => {
      parseCookies()(req, res);
      req.headers.cookie = 'foo=bar';
    };

    // upstream: session() › cookieParser() › should read from req.cookies
    it('finds the session cookie in req.cookies when the header no longer has it', async () => {
      const app = await serve(null, counting, { setup: parsedThenReplaced });
      const first = await app.request();
      expect(first.text).toBe('1');
      expect((await app.request('/', { cookie: first })).text).toBe('2');
    });

    // upstream: session() › cookieParser() › should reject unsigned from req.cookies
    it('refuses a bare, unsigned ID found in req.cookies', async () => {
      const app = await serve({ key: 'sessid' }, counting, { setup: parsedThenReplaced });
      const first = await app.request();
      expect(first.text).toBe('1');
      const second = await app.request('/', { cookie: `sessid=${sessionIdOf(first, { name: 'sessid' })}` });
      expect(second.text).toBe('1');
    });

    // upstream: session() › cookieParser() › should reject invalid signature from req.cookies
    it('refuses a cookie with a broken signature found in req.cookies', async () => {
      const app = await serve({ key: 'sessid' }, counting, { setup: parsedThenReplaced });
      const first = await app.request();
      expect(first.text).toBe('1');
      const second = await app.request('/', { cookie: first.cookiePair('sessid').replace(/...\./, '.') });
      expect(second.text).toBe('1');
    });

    // upstream: session() › cookieParser() › should read from req.signedCookies
    it('finds the session cookie in what a secret-holding cookie-parser parsed when the header was removed', async () => {
      const app = await serve(null, counting, {
        setup: (req, res) => {
          parseCookies(SECRET)(req, res);
          delete req.headers.cookie;
        },
      });
      const first = await app.request();
      expect(first.text).toBe('1');
      expect((await app.request('/', { cookie: first })).text).toBe('2');
    });
  });
});

describe('where nest-sessions deliberately differs from express-session', () => {
  /** Collects what reaches the module's `onError`. */
  function reported(): { errors: SessionError[]; onError: (error: SessionError) => void } {
    const errors: SessionError[] = [];
    return { errors, onError: (error) => void errors.push(error) };
  }

  // upstream: session() › should do nothing if req.session exists
  // Design (docs/migration.md, "A req.session another middleware set first"): the foreign req.session
  // stays as it was, and our session still runs beside it, so both libraries can run during a move.
  it('leaves a req.session another middleware set alone, and runs its own session beside it', async () => {
    const app = await serve(null, (req, res) => res.end(JSON.stringify(req.session)), {
      setup: (req) => {
        req.session = { theirs: true };
      },
    });
    const reply = await app.request();
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toEqual({ theirs: true });
    expect(reply.cookie()).toBeDefined();
  });

  // upstream: session() › should error without secret
  // Design: options are checked when mapped, so a missing secret stops the app at bootstrap instead
  // of failing every request with 500.
  it('refuses options without a secret when they are mapped', () => {
    expect(refusal({ secret: undefined }).message).toMatch(/secret.*required/);
  });

  // upstream: session() › should get secret from req.secret
  // Security: the cookie is signed and verified with the configured secrets only, never with a
  // secret another middleware left on the request.
  it("does not read cookie-parser's req.secret: the secret must be given", () => {
    expect(refusal({ secret: undefined }).message).toContain('req.secret of cookie-parser is not read');
  });

  // upstream: session() › should pass session fetch error
  // Security: a store's error message never reaches the client; the outage answers 503 (docs/migration.md).
  it("answers a store read error with 503 and a generic body, not the store's message", async () => {
    const store = memoryStore();
    const { errors, onError } = reported();
    const app = await serve({ store }, (_req, res) => res.end('hello, world'), { onError });
    const first = await app.request();
    expect(first.text).toBe('hello, world');
    failCalls(store, 'get', new Error('boom!'));
    const second = await app.request('/', { cookie: first });
    expect(second.status).toBe(503);
    expect(second.text).not.toContain('boom!');
    expect(JSON.parse(second.text)).toMatchObject({ statusCode: 503, error: 'SESSION_STORE_UNAVAILABLE' });
    expect(errors.map((error) => error.code)).toEqual(['SESSION_STORE_UNAVAILABLE']);
  });

  // upstream: session() › when response ended › should have saved session with updated cookie expiration
  // Design (docs/migration.md, "Lifetimes are on the server"): the stored expiry slides with every
  // request (maxAge is the idle timeout); the persistent cookie expires at the absolute deadline.
  it("moves the store's expiry on every request; the cookie expires at the absolute deadline", async () => {
    const store = memoryStore();
    const app = await serve({ cookie: { maxAge: MINUTE }, store }, (req, res) => {
      req.session.user = 'bob';
      res.end(req.session.id);
    });
    const first = await app.request();
    const id = first.text;
    expect(sessionIdOf(first)).toBe(id);
    const stored = new Date((await storeGet(store, id)).cookie.expires).getTime();
    expect(stored - Date.now()).toBeLessThanOrEqual(MINUTE);
    expect(Math.abs(expiresIn(first) - 7 * 86_400_000)).toBeLessThanOrEqual(1000);
    await nextSecond();
    const second = await app.request('/', { cookie: first });
    expect(second.text).toBe(id);
    const moved = new Date((await storeGet(store, id)).cookie.expires).getTime();
    expect(new Date(moved).toUTCString()).not.toBe(new Date(stored).toUTCString());
  });

  // upstream: session() › when session without cookie property in store › should pass error from inflate
  // Design (fromConnectStore's TSDoc): a stored session without `cookie` reads with the fallback
  // lifetime instead of crashing the request.
  it('serves a stored session that has no cookie member, keeping its data', async () => {
    const store = memoryStore();
    const app = await serve({ store }, numbering());
    const first = await app.request();
    const id = sessionIdOf(first);
    await storeSet(store, id, { foo: 'bar' });
    const second = await app.request('/', { cookie: first });
    expect(second.status).toBe(200);
    expect(second.text).toBe('session 2');
    expect(await storeGet(store, id)).toMatchObject({ foo: 'bar', num: 2 });
  });

  // upstream: session() › genid option › should allow custom function
  // Security (generateId's TSDoc, docs/migration.md): an ID must be 22 to 128 characters of
  // A-Z a-z 0-9 _ -; any other is refused, never used, and the request fails with 500.
  it("refuses genid's ID 'apple': the request fails with 500 and no cookie", async () => {
    const { errors, onError } = reported();
    const app = await serve({ genid: () => 'apple' }, undefined, { onError });
    const reply = await app.request();
    expect(reply.status).toBe(500);
    expect(reply.setCookies).toEqual([]);
    expect(errors[0]?.code).toBe('SESSION_OPTIONS_INVALID');
    expect(reply.text).not.toContain('apple');
  });

  // upstream: session() › genid option › should encode unsafe chars
  // Security: as above; an ID that would need encoding in the cookie is never issued.
  it("refuses genid's ID '%': the request fails with 500 and no cookie", async () => {
    const { errors, onError } = reported();
    const app = await serve({ genid: () => '%' }, undefined, { onError });
    const reply = await app.request();
    expect(reply.status).toBe(500);
    expect(reply.setCookies).toEqual([]);
    expect(errors[0]?.code).toBe('SESSION_OPTIONS_INVALID');
  });

  // upstream: session() › resave option › when false › should pass session touch error
  // Design (fromConnectStore's TSDoc): the connect store's own touch() is never called (it would
  // leave the stored cookie.expires behind); an expiry is written by rewriting the record.
  it("never calls the connect store's touch(), so its failure cannot reach a request", async () => {
    const store = memoryStore();
    const touches = countCalls(store, 'touch');
    failCalls(store, 'touch', new Error('boom!'));
    const { errors, onError } = reported();
    const app = await serve(
      { store, resave: false },
      (req, res) => {
        req.session.hit = true;
        res.end('session saved');
      },
      { onError },
    );
    const first = await app.request();
    expect(first.text).toBe('session saved');
    const second = await app.request('/', { cookie: first });
    expect(second.status).toBe(200);
    expect(second.text).toBe('session saved');
    expect(touches.count).toBe(0);
    expect(errors).toEqual([]);
  });

  // upstream: session() › saveUninitialized option › should pass session save error
  // Design (docs/migration.md): a write that fails answers 503 instead of the handler's response,
  // so a response never claims a session that was not stored; the error goes to onError.
  it("answers 503 instead of the handler's response when the write fails, and reports it", async () => {
    const store = memoryStore();
    failCalls(store, 'set', new Error('boom!'));
    const { errors, onError } = reported();
    const app = await serve({ store, saveUninitialized: true }, (_req, res) => res.end('session saved'), { onError });
    const reply = await app.request();
    expect(reply.status).toBe(503);
    expect(reply.text).not.toContain('boom!');
    expect(errors.map((error) => error.code)).toEqual(['SESSION_STORE_UNAVAILABLE']);
  });

  // upstream: session() › secret option › should sign and unsign with a Buffer
  // Design (docs/migration.md): secrets are strings; no string signs as a Buffer did.
  it('refuses a Buffer secret at configuration', () => {
    expect(refusal({ secret: Buffer.from('0123456789abcdef0123456789abcdef') }).message).toContain('a Buffer secret is not supported');
  });

  // upstream: session() › unset option › should pass session destroy error
  // Design (SessionManager.destroyAssigned's TSDoc): a failed destroy is reported to onError and
  // the response answers 503; a new session set to null has nothing stored, so nothing to destroy.
  it('answers 503 and reports it when destroying a stored session on req.session = null fails', async () => {
    const store = memoryStore();
    const destroys = countCalls(store, 'destroy');
    const { errors, onError } = reported();
    const app = await serve(
      { store, unset: 'destroy' },
      (req, res) => {
        if (req.url === '/login') req.session.user = 'bob';
        else req.session = null;
        res.end('session destroyed');
      },
      { onError },
    );
    const fresh = await app.request('/');
    expect(fresh.status).toBe(200);
    expect(fresh.text).toBe('session destroyed');
    expect(destroys.count).toBe(0);
    const login = await app.request('/login');
    failCalls(store, 'destroy', new Error('boom!'));
    const reply = await app.request('/', { cookie: login });
    expect(reply.status).toBe(503);
    expect(reply.text).not.toContain('boom!');
    expect(errors.map((error) => error.code)).toContain('SESSION_STORE_UNAVAILABLE');
  });

  // upstream: session() › req.session › should only set-cookie when modified
  // Design (docs/migration.md, "Lifetimes are on the server"): the persistent cookie expires at the
  // absolute deadline, so it is sent once and never needs re-sending when the session changes.
  it('sends the cookie of a persistent session once, not again when its data changes', async () => {
    let modify = true;
    const app = await serve(null, (req, res) => {
      if (modify) req.session.count = (req.session.count || 0) + 1;
      res.end(String(req.session.count));
    });
    const first = await app.request();
    expect(first.text).toBe('1');
    expect(first.cookie()).toBeDefined();
    const second = await app.request('/', { cookie: first });
    expect(second.text).toBe('2');
    expect(second.setCookies).toEqual([]);
    modify = false;
    const third = await app.request('/', { cookie: first });
    expect(third.text).toBe('2');
    expect(third.setCookies).toEqual([]);
    modify = true;
    const fourth = await app.request('/', { cookie: first });
    expect(fourth.text).toBe('3');
    expect(fourth.setCookies).toEqual([]);
  });

  // upstream: session() › req.session › should not be set if store is disconnected
  // Design (docs/migration.md): an outage is never a silent anonymous request; while the connect
  // store is disconnected its calls fail at once and the request answers 503.
  it('answers 503 while the connect store is disconnected, rather than dropping req.session', async () => {
    const store = memoryStore();
    const app = await serve({ store }, (req, res) => res.end(typeof req.session));
    store.emit('disconnect');
    const reply = await app.request();
    expect(reply.status).toBe(503);
    expect(reply.setCookies).toEqual([]);
  });

  // upstream: session() › req.session › should be set when store reconnects
  // Design: as above; once the store emits connect, sessions work again.
  it('serves sessions again once the connect store reconnects', async () => {
    const store = memoryStore();
    const app = await serve({ store }, (req, res) => res.end(typeof req.session));
    store.emit('disconnect');
    expect((await app.request()).status).toBe(503);
    store.emit('connect');
    const reply = await app.request();
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('object');
  });

  // upstream: session() › req.session › .cookie › .* › should forward errors setting cookie
  // Design (fromExpressSessionOptions' TSDoc): cookie.expires, one date for every session, is
  // refused when the options are mapped, so an invalid date never reaches a request.
  it('refuses cookie.expires at configuration, an invalid date included', () => {
    expect(refusal({ cookie: { expires: new Date(NaN) } }).message).toMatch(/`cookie\.expires`/);
  });

  // upstream: session() › req.session › .cookie › .originalMaxAge › should equal original maxAge
  // Design ("Lifetimes are on the server"): the persistent cookie lives to the absolute deadline
  // (the larger of maxAge and 7 days), and originalMaxAge is that lifetime.
  it('reports as originalMaxAge the lifetime the cookie was given: the absolute timeout', async () => {
    const app = await serve({ cookie: { maxAge: 2000 } }, (req, res) => res.end(JSON.stringify(req.session.cookie.originalMaxAge)));
    expect((await app.request()).text).toBe(String(7 * 86_400_000));
  });

  // upstream: session() › req.session › .cookie › .originalMaxAge › should equal original maxAge for all requests
  // Design: as above; the value is the same on every request of the session.
  it('reports the same originalMaxAge on a later request', async () => {
    const app = await serve({ cookie: { maxAge: 2000 } }, (req, res) => res.end(JSON.stringify(req.session.cookie.originalMaxAge)));
    const first = await app.request();
    await sleep(100);
    const second = await app.request('/', { cookie: first });
    expect(second.text).toBe(first.text);
    expect(second.text).toBe(String(7 * 86_400_000));
  });

  // upstream: session() › req.session › .cookie › .originalMaxAge › should equal original maxAge for all requests (SmartStore)
  // Design: as above, over a store that keeps JSON and revives cookie.expires as a Date.
  it('reports the same originalMaxAge on a later request over a JSON store', async () => {
    const app = await serve({ cookie: { maxAge: 2000 }, store: new RevivingStore() }, (req, res) =>
      res.end(JSON.stringify(req.session.cookie.originalMaxAge)),
    );
    const first = await app.request();
    await sleep(100);
    const second = await app.request('/', { cookie: first });
    expect(second.status).toBe(200);
    expect(second.text).toBe(first.text);
    expect(second.text).toBe(String(7 * 86_400_000));
  });

  // upstream: session() › req.session › .cookie › .maxAge › should set cookie expires relative to maxAge
  // Design ("Lifetimes are on the server"): the cookie expires at the absolute deadline, sent once;
  // maxAge (2 s here) is the idle timeout enforced on the server.
  it('sends a cookie expiring at the absolute deadline, and not again when the session changes', async () => {
    const app = await serve({ cookie: { maxAge: 2000 } }, (req, res) => {
      req.session.count = (req.session.count ?? -1) + 1;
      res.end(String(req.session.count));
    });
    const first = await app.request();
    expect(Math.abs(expiresIn(first) - 7 * 86_400_000)).toBeLessThanOrEqual(1000);
    const second = await app.request('/', { cookie: first });
    expect(second.text).toBe('1');
    expect(second.setCookies).toEqual([]);
  });

  // upstream: session() › req.session › .cookie › .expires › when given a Date › should set absolute
  // Design (req.session.cookie's TSDoc): expires gives the session a lifetime of 1 ms to 400 days; a
  // date in the past is refused with SESSION_READ_ONLY (to end a session, destroy it).
  it('refuses a past date for req.session.cookie.expires', async () => {
    const app = await serve(null, (req, res) => {
      try {
        req.session.cookie.expires = new Date(0);
        res.end('accepted');
      } catch (error) {
        res.end(String((error as SessionError).code));
      }
    });
    const reply = await app.request();
    expect(reply.text).toBe('SESSION_READ_ONLY');
    expect(reply.cookie()?.attributes.expires).not.toBe('Thu, 01 Jan 1970 00:00:00 GMT');
  });

  // upstream: session() › req.session › .cookie › .partitioned › when "true" › should set partitioned attribute
  // Security/design (the cookie option's TSDoc: "Partitioned; needs secure"): browsers refuse a
  // Partitioned cookie that is not Secure, so the option is refused without secure; with it, it is sent.
  it('refuses partitioned without secure, and sends Partitioned with it', async () => {
    expect(refusal({ cookie: { partitioned: true } }).message).toMatch(/`cookie\.partitioned`/);
    const app = await serve({ proxy: true, cookie: { partitioned: true, secure: true } });
    const reply = await app.request('/', { headers: { 'x-forwarded-proto': 'https' } });
    expect(reply.cookie()?.attributes.partitioned).toBe(true);
  });
});
