import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { readLogoutToken } from '../src/auth/logout-form.js';

/** A Node request with `headers` whose body is `chunks`, unread. */
function nodeRequest(headers: Record<string, string>, chunks: string[] = []): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers = headers;
  for (const chunk of chunks) req.push(chunk);
  req.push(null);
  return req;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('readLogoutToken: the back-channel form, whoever parsed it', () => {
  it('takes logout_token from a body the platform parsed (Express, Fastify, @fastify/formbody), own properties only', async () => {
    expect(await readLogoutToken({ body: { logout_token: 'jwt' } })).toBe('jwt');
    expect(await readLogoutToken({ body: Object.assign(Object.create(null), { logout_token: 'jwt' }) })).toBe('jwt');
    expect(await readLogoutToken({ body: Object.create({ logout_token: 'inherited' }) })).toBeUndefined();
    expect(await readLogoutToken({ body: { logout_token: ['a', 'b'] } })).toEqual(['a', 'b']);
  });

  it('parses a body kept as text or bytes (AuthModule’s parser on Fastify, a raw parser)', async () => {
    expect(await readLogoutToken({ body: 'logout_token=a.b.c&x=1' })).toBe('a.b.c');
    expect(await readLogoutToken({ body: Buffer.from('logout_token=a%2Bb') })).toBe('a+b');
    expect(await readLogoutToken({ body: new TextEncoder().encode('logout_token=x') })).toBe('x');
    expect(await readLogoutToken({ body: 'logout_token=a&logout_token=b' })).toEqual(['a', 'b']);
    expect(await readLogoutToken({ body: 'other=1' })).toBeUndefined();
    expect(await readLogoutToken({ body: `logout_token=x&pad=${'y'.repeat(70_000)}` })).toBeUndefined();
  });

  it('reads an unparsed form from the request itself (bodyParser: false on Express), Fastify’s request.raw too', async () => {
    expect(await readLogoutToken(nodeRequest(FORM, ['logout_token=a', '.b.c']))).toBe('a.b.c');
    expect(
      await readLogoutToken({
        raw: nodeRequest({ 'content-type': 'Application/X-WWW-Form-Urlencoded; charset=utf-8' }, ['logout_token=t']),
      }),
    ).toBe('t');
    expect(await readLogoutToken(nodeRequest(FORM, ['logout_token=x&pad=', 'y'.repeat(70_000)]))).toBeUndefined();
  });

  it('reads no body of another media type, nor one already read', async () => {
    expect(await readLogoutToken(nodeRequest({ 'content-type': 'application/json' }, ['{"logout_token":"x"}']))).toBeUndefined();
    expect(await readLogoutToken(nodeRequest({}, ['logout_token=x']))).toBeUndefined();
    const consumed = nodeRequest(FORM, ['logout_token=x']);
    consumed.resume();
    await new Promise((resolve) => consumed.once('end', resolve));
    expect(await readLogoutToken(consumed)).toBeUndefined();
  });
});
