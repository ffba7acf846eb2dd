import { describe, expect, it } from 'vitest';
import { CookieStore, SessionError, SessionModule } from '../src/index.js';
import { ADAPTERS, SECRET, createApp, startSessionApp, testModule } from './support/test-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(ADAPTERS)('on %s', (adapter) => {
  describe('CookieStore: the session sealed in the cookie', () => {
    it('sends no cookie for an empty session, seals values so they cannot be read, and reads them back', async () => {
      const running = await startSessionApp({ store: 'cookie:' }, { adapter });
      try {
        const client = running.client();
        expect((await client.get('/read')).setCookies).toEqual([]);
        const created = await client.post('/set', { secretPlan: 'launch-at-dawn' });
        const cookie = created.cookie('sid')!;
        expect(cookie).toMatch(/^sid=[A-Za-z0-9_-]+; Max-Age=\d+; Expires=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
        expect(Buffer.from(client.jar.get('sid')!, 'base64url').toString('latin1')).not.toContain('launch');
        expect((await client.get('/all')).json()).toEqual({ secretPlan: 'launch-at-dawn' });
        await client.post('/increment');
        expect((await client.get('/all')).json()).toEqual({ secretPlan: 'launch-at-dawn', count: 1 });
      } finally {
        await running.close();
      }
    });

    it('gives the cookie the session\'s own lifetime (req.session.cookie.maxAge, "remember me")', async () => {
      const running = await startSessionApp({ store: 'cookie:', absoluteTimeout: '7d' }, { adapter });
      try {
        const client = running.client();
        await client.post('/remember', { days: 30 });
        const maxAge = Number(/; Max-Age=(\d+)/.exec((await client.post('/increment')).cookie('sid') ?? '')?.[1]);
        // 30 days from when it was set, not the 7 days of absoluteTimeout.
        expect(maxAge).toBeGreaterThan(29 * 86_400);
        expect(maxAge).toBeLessThanOrEqual(30 * 86_400);
      } finally {
        await running.close();
      }
    });

    it('treats a tampered cookie as no session and clears it', async () => {
      const running = await startSessionApp({ store: 'cookie:' }, { adapter });
      try {
        const client = running.client();
        await client.post('/set', { role: 'user' });
        const sealed = client.jar.get('sid')!;
        const bytes = Buffer.from(sealed, 'base64url');
        bytes[bytes.length - 1] ^= 1;
        client.jar.set('sid', bytes.toString('base64url'));
        const read = await client.get('/all');
        expect(read.json()).toEqual({});
        expect(read.cookie('sid')).toMatch(/^sid=; Max-Age=0/);
      } finally {
        await running.close();
      }
    });

    it('opens cookies sealed with an older secret and seals new ones with the first', async () => {
      const oldSecret = 'old-secret-old-secret-old-secret-0000';
      const before = await startSessionApp({ store: 'cookie:', secret: oldSecret }, { adapter });
      const client = before.client();
      await client.post('/set', { who: 'alice' });
      const oldCookie = client.jar.get('sid')!;
      await before.close();
      const after = await startSessionApp({ store: 'cookie:', secret: [SECRET, oldSecret] }, { adapter });
      const onlyNew = await startSessionApp({ store: 'cookie:', secret: SECRET }, { adapter });
      try {
        const rotated = after.client();
        rotated.jar.set('sid', oldCookie);
        expect((await rotated.get('/all')).json()).toEqual({ who: 'alice' });
        await rotated.post('/increment'); // rewritten under the new secret
        const resealed = rotated.jar.get('sid')!;
        const check = onlyNew.client();
        check.jar.set('sid', resealed);
        expect((await check.get('/all')).json()).toEqual({ who: 'alice', count: 1 });
        check.jar.set('sid', oldCookie);
        expect((await check.get('/all')).json()).toEqual({});
      } finally {
        await after.close();
        await onlyNew.close();
      }
    });

    it('splits a large session across cookies, reassembles it, and clears chunks no longer needed', async () => {
      const running = await startSessionApp({ store: new CookieStore({ maxSize: 12_000 }) }, { adapter });
      try {
        const client = running.client();
        const big = 'x'.repeat(4000); // about 5.4 KB once sealed: two cookies
        const created = await client.post('/set', { big });
        expect(created.setCookies.map((line) => line.split('=')[0])).toEqual(['sid', 'sid.1']);
        for (const line of created.setCookies) expect(line.length).toBeLessThan(4096);
        expect((await client.get('/all')).json()).toEqual({ big });
        const shrunk = await client.post('/set', { big: 'small' });
        expect(shrunk.setCookies.map((line) => line.split(';')[0].split('=')[0])).toEqual(['sid', 'sid.1']);
        expect(shrunk.cookie('sid.1')).toMatch(/^sid\.1=; Max-Age=0/);
        expect(client.jar.has('sid.1')).toBe(false);
        expect((await client.get('/all')).json()).toEqual({ big: 'small' });
      } finally {
        await running.close();
      }
    });

    it('fails with a clear error instead of sending cookies beyond maxSize', async () => {
      const errors: SessionError[] = [];
      const running = await startSessionApp({ store: new CookieStore({ maxSize: 4000 }), onError: (e) => errors.push(e) }, { adapter });
      try {
        const client = running.client();
        const response = await client.post('/set', { big: 'y'.repeat(5000) });
        expect(response.status).toBe(500);
        expect(response.setCookies).toEqual([]);
        expect(errors.map((e) => e.code)).toEqual(['SESSION_PAYLOAD_TOO_LARGE']);
        expect(errors[0].message).toMatch(
          /^nest-sessions: the sealed session is \d+ bytes, over the cookie store's maxSize of 4000; keep less in the session or use a server-side store\.$/,
        );
      } finally {
        await running.close();
      }
    });

    it('enforces the idle timeout sealed in the cookie', async () => {
      const running = await startSessionApp({ store: 'cookie:', idleTimeout: 300, touchInterval: 50 }, { adapter });
      try {
        const client = running.client();
        await client.post('/increment');
        await sleep(150);
        expect((await client.get('/value')).json()).toEqual({ count: 1 }); // touch due: cookie re-sealed
        await sleep(200);
        expect((await client.get('/value')).json()).toEqual({ count: 1 });
        await sleep(450);
        expect((await client.get('/value')).json()).toEqual({ count: null });
      } finally {
        await running.close();
      }
    });

    it('regenerate() and flash messages work; destroy() clears the cookie but cannot revoke a copy (the trade-off)', async () => {
      const running = await startSessionApp({ store: 'cookie:' }, { adapter });
      try {
        const client = running.client();
        await client.post('/increment');
        const before = client.jar.get('sid');
        expect((await client.post('/login')).json()).toEqual({ changed: true });
        expect(client.jar.get('sid')).not.toBe(before);
        expect((await client.get('/read')).json()).toMatchObject({ count: 1 });

        await client.post('/flash', { message: 'hello' });
        expect((await client.get('/show-flash')).json()).toEqual({ message: 'hello' });
        expect((await client.get('/show-flash')).json()).toEqual({ message: null });

        const copy = client.jar.get('sid')!;
        const logout = await client.post('/logout');
        expect(logout.cookie('sid')).toMatch(/^sid=; Max-Age=0/);
        expect((await client.get('/all')).json()).toEqual({});
        const thief = running.client();
        thief.jar.set('sid', copy);
        expect((await thief.get('/all')).json()).toMatchObject({ user: 'alice' }); // still valid: no server-side revocation
      } finally {
        await running.close();
      }
    });

    it('refuses transports other than the cookie at bootstrap', async () => {
      const error = await createApp(testModule(SessionModule.forRoot({ secret: SECRET, store: 'cookie:', transport: 'header' })), adapter, {
        abortOnError: false,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionError);
      expect((error as SessionError).message).toMatch(/^nest-sessions: invalid option `transport`: a client-side store/);
    });
  });
});
