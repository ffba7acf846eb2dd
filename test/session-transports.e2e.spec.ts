import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { SessionIdTransport } from '../src/index.js';
import { ADAPTERS, startSessionApp } from './support/test-app.js';

describe.each(ADAPTERS)('on %s', (adapter) => {
  describe('session ID transports', () => {
    it("'header' carries the ID in X-Session-Id both ways and never sets a cookie", async () => {
      const running = await startSessionApp({ transport: 'header' }, { adapter });
      try {
        const client = running.client();
        const created = await client.post('/increment');
        expect(created.setCookies).toEqual([]);
        const token = created.headers.get('x-session-id')!;
        expect(token).toMatch(/^[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}$/);

        const next = await client.post('/increment', undefined, { headers: { 'x-session-id': token } });
        expect(next.json()).toEqual({ count: 2 });
        expect(next.headers.get('x-session-id')).toBeNull();

        const logout = await client.post('/logout', undefined, { headers: { 'x-session-id': token } });
        expect(logout.headers.get('x-session-id')).toBe('');
        expect((await client.get('/value', { headers: { 'x-session-id': token } })).json()).toEqual({ count: null });
      } finally {
        await running.close();
      }
    });

    it('a custom header name', async () => {
      const running = await startSessionApp({ transport: 'header', headerName: 'Authorization-Session' }, { adapter });
      try {
        const created = await running.client().post('/increment');
        expect(created.headers.get('authorization-session')).toMatch(/\./);
      } finally {
        await running.close();
      }
    });

    it("['cookie', 'header'] serves browsers and API clients from one app", async () => {
      const running = await startSessionApp({ transport: ['cookie', 'header'] }, { adapter });
      try {
        const browser = running.client();
        const created = await browser.post('/increment');
        expect(created.cookie('sid')).toBeDefined();
        expect(created.headers.get('x-session-id')).toBeNull();

        const api = running.client();
        const token = browser.jar.get('sid')!;
        browser.jar.clear();
        const viaHeader = await api.post('/login', undefined, { headers: { 'x-session-id': token } });
        expect(viaHeader.setCookies).toEqual([]);
        const regenerated = viaHeader.headers.get('x-session-id')!;
        expect(regenerated).not.toBe(token);
        expect((await api.get('/all', { headers: { 'x-session-id': regenerated } })).json()).toEqual({ count: 1, user: 'alice' });
      } finally {
        await running.close();
      }
    });

    it('custom read/write functions (flamego-style ReadIDFunc / WriteIDFunc)', async () => {
      const written: Array<string | null> = [];
      const transport: SessionIdTransport = {
        read: (req: IncomingMessage) => new URL(req.url ?? '/', 'http://x').searchParams.get('sid') ?? undefined,
        write: ({ value, res }) => {
          written.push(value);
          res.setHeader('x-new-sid', value ?? '');
        },
      };
      const running = await startSessionApp({ transport }, { adapter });
      try {
        const client = running.client();
        const created = await client.post('/increment');
        const token = created.headers.get('x-new-sid')!;
        expect(written).toEqual([token]);
        expect((await client.get(`/value?sid=${encodeURIComponent(token)}`)).json()).toEqual({ count: 1 });
      } finally {
        await running.close();
      }
    });

    it("secure: 'auto' follows X-Forwarded-Proto only behind a trusted proxy", async () => {
      const trusting = await startSessionApp({ cookie: { secure: 'auto' }, trustProxy: true }, { adapter });
      const untrusting = await startSessionApp({ cookie: { secure: 'auto' } }, { adapter });
      try {
        const https = { headers: { 'x-forwarded-proto': 'https' } };
        expect((await trusting.client().post('/increment', undefined, https)).cookie('sid')).toContain('; Secure');
        expect((await trusting.client().post('/increment')).cookie('sid')).not.toContain('; Secure');
        expect((await untrusting.client().post('/increment', undefined, https)).cookie('sid')).not.toContain('; Secure');
      } finally {
        await trusting.close();
        await untrusting.close();
      }
    });

    it("SameSite=None falls back to the browser default on plain HTTP with secure: 'auto'", async () => {
      const running = await startSessionApp(
        { cookie: { secure: 'auto', sameSite: 'none', partitioned: true }, trustProxy: true },
        { adapter },
      );
      try {
        const plain = (await running.client().post('/increment')).cookie('sid')!;
        expect(plain).not.toContain('SameSite');
        expect(plain).not.toContain('Partitioned');
        const https = (await running.client().post('/increment', undefined, { headers: { 'x-forwarded-proto': 'https' } })).cookie('sid')!;
        expect(https).toContain('; Secure; SameSite=None; Partitioned');
      } finally {
        await running.close();
      }
    });

    it('cookie attributes: __Host- name, SameSite, Partitioned, Priority, domain, browser-session cookies', async () => {
      const hostPrefixed = await startSessionApp(
        {
          cookie: { name: '__Host-sid', sameSite: 'none', partitioned: true, priority: 'high' },
        },
        { adapter },
      );
      const scoped = await startSessionApp(
        {
          cookie: { domain: 'example.test', path: '/app', persistent: false, httpOnly: false, secure: false, sameSite: 'strict' },
        },
        { adapter },
      );
      try {
        expect((await hostPrefixed.client().post('/increment')).cookie('__Host-sid')).toMatch(
          /^__Host-sid=[^;]+; Max-Age=\d+; Expires=[^;]+; Path=\/; HttpOnly; Secure; SameSite=None; Partitioned; Priority=High$/,
        );
        const cookie = (await scoped.client().post('/increment')).cookie('sid')!;
        expect(cookie).toMatch(/^sid=[^;]+; Domain=example\.test; Path=\/app; SameSite=Strict$/);
      } finally {
        await hostPrefixed.close();
        await scoped.close();
      }
    });
  });
});
