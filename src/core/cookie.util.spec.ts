import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { appendSetCookie, readCookie, serializeCookie } from './cookie.util.js';

function newResponse(): ServerResponse {
  return new ServerResponse(new IncomingMessage(new Socket()));
}

describe('serializeCookie', () => {
  it('writes only `name=value` without attributes', () => {
    expect(serializeCookie('sid', 'abc', {})).toBe('sid=abc');
  });

  it('writes an empty value', () => {
    expect(serializeCookie('sid', '', {})).toBe('sid=');
  });

  it('writes every attribute in a fixed order', () => {
    const expires = Date.UTC(2030, 0, 2, 3, 4, 5);
    expect(
      serializeCookie('sid', 'v', {
        priority: 'high',
        partitioned: true,
        sameSite: 'none',
        secure: true,
        httpOnly: true,
        path: '/app',
        domain: 'example.com',
        expires,
        maxAge: 3600,
      }),
    ).toBe(
      'sid=v; Max-Age=3600; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Domain=example.com; Path=/app; HttpOnly; Secure; SameSite=None; Partitioned; Priority=High',
    );
  });

  describe('Max-Age', () => {
    it.each([
      [0, 'Max-Age=0'],
      [1, 'Max-Age=1'],
      [0.001, 'Max-Age=1'],
      [1.2, 'Max-Age=2'],
      [59.999, 'Max-Age=60'],
      [604_800, 'Max-Age=604800'],
    ])('rounds %s seconds up to %s', (maxAge, expected) => {
      expect(serializeCookie('sid', 'v', { maxAge })).toBe(`sid=v; ${expected}`);
    });

    it.each([-1, -0.5, -1000])('clamps the negative %s to 0', (maxAge) => {
      expect(serializeCookie('sid', 'v', { maxAge })).toBe('sid=v; Max-Age=0');
    });
  });

  describe('Expires', () => {
    it('writes the epoch-millisecond time as an HTTP date in UTC', () => {
      expect(serializeCookie('sid', 'v', { expires: Date.UTC(2024, 1, 29, 23, 59, 59, 999) })).toBe(
        'sid=v; Expires=Thu, 29 Feb 2024 23:59:59 GMT',
      );
    });

    it('writes expires 0 as the Unix epoch (used to clear a cookie)', () => {
      expect(serializeCookie('sid', '', { expires: 0, maxAge: 0 })).toBe('sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT');
    });
  });

  it('writes Domain and Path as given', () => {
    expect(serializeCookie('sid', 'v', { domain: '.example.com', path: '/' })).toBe('sid=v; Domain=.example.com; Path=/');
  });

  it('omits an empty Domain and an empty Path', () => {
    expect(serializeCookie('sid', 'v', { domain: '', path: '' })).toBe('sid=v');
  });

  it('omits HttpOnly, Secure and Partitioned when false', () => {
    expect(serializeCookie('sid', 'v', { httpOnly: false, secure: false, partitioned: false })).toBe('sid=v');
  });

  it('writes HttpOnly, Secure and Partitioned flags when true', () => {
    expect(serializeCookie('sid', 'v', { httpOnly: true })).toBe('sid=v; HttpOnly');
    expect(serializeCookie('sid', 'v', { secure: true })).toBe('sid=v; Secure');
    expect(serializeCookie('sid', 'v', { partitioned: true })).toBe('sid=v; Partitioned');
  });

  it.each([
    ['lax', 'Lax'],
    ['strict', 'Strict'],
    ['none', 'None'],
  ] as const)('capitalises SameSite %s as %s', (sameSite, written) => {
    expect(serializeCookie('sid', 'v', { sameSite })).toBe(`sid=v; SameSite=${written}`);
  });

  it('omits SameSite when it is false', () => {
    expect(serializeCookie('sid', 'v', { sameSite: false })).toBe('sid=v');
  });

  it.each([
    ['low', 'Low'],
    ['medium', 'Medium'],
    ['high', 'High'],
  ] as const)('capitalises Priority %s as %s', (priority, written) => {
    expect(serializeCookie('sid', 'v', { priority })).toBe(`sid=v; Priority=${written}`);
  });

  it('omits attributes that are undefined', () => {
    expect(
      serializeCookie('sid', 'v', {
        path: undefined,
        domain: undefined,
        httpOnly: undefined,
        secure: undefined,
        sameSite: undefined,
        partitioned: undefined,
        priority: undefined,
        expires: undefined,
        maxAge: undefined,
      }),
    ).toBe('sid=v');
  });
});

describe('readCookie', () => {
  it('returns undefined for a missing or empty header', () => {
    expect(readCookie(undefined, 'sid')).toBeUndefined();
    expect(readCookie('', 'sid')).toBeUndefined();
  });

  it('reads the only cookie', () => {
    expect(readCookie('sid=abc', 'sid')).toBe('abc');
  });

  it('reads a cookie among others, wherever it is', () => {
    expect(readCookie('sid=abc; theme=dark; lang=en', 'sid')).toBe('abc');
    expect(readCookie('theme=dark; sid=abc; lang=en', 'sid')).toBe('abc');
    expect(readCookie('theme=dark; lang=en; sid=abc', 'sid')).toBe('abc');
  });

  it('returns undefined when the cookie is absent', () => {
    expect(readCookie('theme=dark; lang=en', 'sid')).toBeUndefined();
  });

  it('returns the first value when a name appears more than once', () => {
    expect(readCookie('sid=host; sid=parent', 'sid')).toBe('host');
    expect(readCookie('a=1; sid=first; b=2; sid=second', 'sid')).toBe('first');
  });

  it('does not match a name that is a prefix or suffix of another name', () => {
    expect(readCookie('sid2=other', 'sid')).toBeUndefined();
    expect(readCookie('sid2=other; sid=mine', 'sid')).toBe('mine');
    expect(readCookie('xsid=other; sid=mine', 'sid')).toBe('mine');
    expect(readCookie('sid=mine; sid2=other', 'sid2')).toBe('other');
    expect(readCookie('sid=mine', 'sid2')).toBeUndefined();
  });

  it('matches names case-sensitively', () => {
    expect(readCookie('SID=upper', 'sid')).toBeUndefined();
    expect(readCookie('SID=upper; sid=lower', 'sid')).toBe('lower');
  });

  it('trims spaces around names and values', () => {
    expect(readCookie('  sid  =  abc  ;theme=dark', 'sid')).toBe('abc');
    expect(readCookie('theme=dark;sid=abc', 'sid')).toBe('abc');
    expect(readCookie('theme=dark;\tsid=abc\t', 'sid')).toBe('abc');
  });

  it('removes one pair of surrounding double quotes', () => {
    expect(readCookie('sid="abc"', 'sid')).toBe('abc');
    expect(readCookie('sid=""', 'sid')).toBe('');
    expect(readCookie('sid=""abc""', 'sid')).toBe('"abc"');
  });

  it('keeps a lone or unbalanced quote', () => {
    expect(readCookie('sid="', 'sid')).toBe('"');
    expect(readCookie('sid="abc', 'sid')).toBe('"abc');
    expect(readCookie('sid=abc"', 'sid')).toBe('abc"');
  });

  it('keeps "=" inside the value', () => {
    expect(readCookie('sid=a=b==', 'sid')).toBe('a=b==');
  });

  it('returns an empty string for an empty value', () => {
    expect(readCookie('sid=', 'sid')).toBe('');
    expect(readCookie('sid=; theme=dark', 'sid')).toBe('');
  });

  it('does not decode the value', () => {
    expect(readCookie('sid=a%20b', 'sid')).toBe('a%20b');
  });

  it('reads a signed session token (id.signature) whole', () => {
    const token = 'Abc_def-GHIjklMNOpqrSTUvwxYZ0123.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';
    expect(readCookie(`theme=dark; sid=${token}`, 'sid')).toBe(token);
  });

  it('skips malformed pairs without throwing', () => {
    expect(readCookie('garbage; sid=ok', 'sid')).toBe('ok');
    expect(readCookie('sid; sid=ok', 'sid')).toBe('ok');
    expect(readCookie(';;; sid=ok;;', 'sid')).toBe('ok');
    expect(readCookie('=novalue; sid=ok', 'sid')).toBe('ok');
    expect(readCookie('a; b; c', 'sid')).toBeUndefined();
    expect(readCookie(';', 'sid')).toBeUndefined();
    expect(readCookie('=', 'sid')).toBeUndefined();
  });

  it('does not take a name without "=" as the wanted cookie, even when followed by another pair', () => {
    // `sid` has no "="; the "=" found later belongs to `theme`, so `sid` must not be matched.
    expect(readCookie('sid; theme=dark', 'sid')).toBeUndefined();
    expect(readCookie('sid; theme=dark', 'sid; theme')).toBeUndefined();
  });

  it('handles a trailing semicolon', () => {
    expect(readCookie('sid=abc;', 'sid')).toBe('abc');
  });
});

describe('appendSetCookie', () => {
  describe('with a real http.ServerResponse', () => {
    it('sets the header as a one-element list when there was none', () => {
      const res = newResponse();
      appendSetCookie(res, 'sid=abc; Path=/');
      expect(res.getHeader('set-cookie')).toEqual(['sid=abc; Path=/']);
    });

    it('keeps a string Set-Cookie value set by the application', () => {
      const res = newResponse();
      res.setHeader('Set-Cookie', 'theme=dark');
      appendSetCookie(res, 'sid=abc');
      expect(res.getHeader('set-cookie')).toEqual(['theme=dark', 'sid=abc']);
    });

    it('keeps an array of Set-Cookie values, in order', () => {
      const res = newResponse();
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      appendSetCookie(res, 'sid=abc');
      expect(res.getHeader('set-cookie')).toEqual(['a=1', 'b=2', 'sid=abc']);
    });

    it('appends on every call', () => {
      const res = newResponse();
      appendSetCookie(res, 'sid=; Max-Age=0');
      appendSetCookie(res, 'sid=new');
      expect(res.getHeader('set-cookie')).toEqual(['sid=; Max-Age=0', 'sid=new']);
    });

    it('does not mutate the array the application set', () => {
      const res = newResponse();
      const mine = ['a=1'];
      res.setHeader('Set-Cookie', mine);
      appendSetCookie(res, 'sid=abc');
      expect(mine).toEqual(['a=1']);
      expect(res.getHeader('set-cookie')).toEqual(['a=1', 'sid=abc']);
    });
  });

  describe('with a minimal getHeader/setHeader object', () => {
    function fakeResponse(initial?: number | string | string[]) {
      const headers = new Map<string, number | string | string[]>();
      if (initial !== undefined) headers.set('set-cookie', initial);
      const calls: Array<[string, string[]]> = [];
      return {
        headers,
        calls,
        getHeader: (name: string) => headers.get(name.toLowerCase()),
        setHeader: (name: string, value: string[]) => {
          calls.push([name, value]);
          headers.set(name.toLowerCase(), value);
        },
      };
    }

    it('reads and writes the lower-case header name with a string array', () => {
      const res = fakeResponse();
      appendSetCookie(res, 'sid=abc');
      expect(res.calls).toEqual([['set-cookie', ['sid=abc']]]);
    });

    it('keeps an existing string value', () => {
      const res = fakeResponse('theme=dark');
      appendSetCookie(res, 'sid=abc');
      expect(res.headers.get('set-cookie')).toEqual(['theme=dark', 'sid=abc']);
    });

    it('keeps an existing array value', () => {
      const res = fakeResponse(['a=1', 'b=2']);
      appendSetCookie(res, 'sid=abc');
      expect(res.headers.get('set-cookie')).toEqual(['a=1', 'b=2', 'sid=abc']);
    });

    it('converts non-string existing values to strings', () => {
      const res = fakeResponse(42);
      appendSetCookie(res, 'sid=abc');
      expect(res.headers.get('set-cookie')).toEqual(['42', 'sid=abc']);
      const listRes = fakeResponse([1, 'b=2'] as unknown as string[]);
      appendSetCookie(listRes, 'sid=abc');
      expect(listRes.headers.get('set-cookie')).toEqual(['1', 'b=2', 'sid=abc']);
    });
  });
});
