import { describe, expect, it } from 'vitest';
import { resolveAuthOptions, safeReturnTo } from './auth-options.resolver.js';
import type { AuthModuleOptions } from './auth-options.interface.js';
import { AuthError } from './errors/auth.error.js';

const provider = {
  issuer: 'https://id.example.com/',
  clientId: 'app',
  clientSecret: 'secret',
  redirectUri: 'https://app.example.com/auth/callback',
};

function error(options: unknown): AuthError {
  try {
    resolveAuthOptions(options as AuthModuleOptions);
  } catch (caught) {
    expect(caught).toBeInstanceOf(AuthError);
    return caught as AuthError;
  }
  throw new Error('expected the options to be refused');
}

describe('resolveAuthOptions', () => {
  it('applies the defaults', () => {
    const resolved = resolveAuthOptions({ providers: { main: provider } });
    expect(resolved.defaultProvider).toBe('main');
    const main = resolved.providers.get('main')!;
    expect(main.issuer).toBe('https://id.example.com');
    expect(main.scope).toBe('openid profile email');
    expect(main.userInfo).toBe(true);
    expect(resolved).toMatchObject({
      allowInsecureIssuers: false,
      refreshBefore: 60_000,
      loginTimeout: 600_000,
      discoveryAttempts: 6,
      discoveryDelay: 500,
      httpTimeout: 10_000,
      defaultReturnTo: '/',
      postLogoutRedirect: '/',
      refreshLockTimeout: 10_000,
      allowCookieStore: false,
    });
    expect([...resolved.trustedOrigins]).toEqual([]);
  });

  it('normalises trustedOrigins as browsers send Origin', () => {
    const resolved = resolveAuthOptions({
      providers: { main: provider },
      trustedOrigins: ['HTTPS://WWW.Example.com:443', 'http://localhost:3000'],
    });
    expect([...resolved.trustedOrigins]).toEqual(['https://www.example.com', 'http://localhost:3000']);
  });

  it('always asks for openid and accepts scopes as a string or a list', () => {
    expect(resolveAuthOptions({ providers: { a: { ...provider, scope: 'profile offline_access' } } }).providers.get('a')!.scope).toBe(
      'openid profile offline_access',
    );
    expect(resolveAuthOptions({ providers: { a: { ...provider, scope: ['email', 'openid'] } } }).providers.get('a')!.scope).toBe(
      'openid email',
    );
  });

  it('refuses plain-HTTP issuers and redirect URIs unless allowInsecureIssuers is set', () => {
    const refused = error({ providers: { main: { ...provider, issuer: 'http://127.0.0.1:4000' } } });
    expect(refused.code).toBe('AUTH_OPTIONS_INVALID');
    expect(refused.message).toContain('`providers.main.issuer`');
    expect(refused.message).toContain('allowInsecureIssuers');
    expect(error({ providers: { main: { ...provider, redirectUri: 'http://app.example.com/cb' } } }).message).toContain(
      'providers.main.redirectUri',
    );
    // This app on the developer's machine (RFC 8252 loopback redirects) needs no insecure switch.
    for (const local of ['http://localhost:3000/auth/callback', 'http://127.0.0.1:3000/auth/callback', 'http://[::1]:3000/auth/callback']) {
      expect(
        resolveAuthOptions({ providers: { main: { ...provider, redirectUri: local, postLogoutRedirectUri: local } } }).providers.get(
          'main',
        )!.redirectUri,
      ).toBe(local);
    }
    expect(
      resolveAuthOptions({
        allowInsecureIssuers: true,
        providers: { main: { ...provider, issuer: 'http://127.0.0.1:4000', redirectUri: 'http://127.0.0.1/cb' } },
      }).providers.get('main')!.issuer,
    ).toBe('http://127.0.0.1:4000');
  });

  it.each([
    [{}, 'providers'],
    [{ providers: {} }, 'providers'],
    [{ providers: { 'bad name': provider } }, 'providers.bad name'],
    [{ providers: { 'logout-chain': provider } }, 'providers.logout-chain'],
    [{ providers: { main: { ...provider, clientId: '' } } }, 'providers.main.clientId'],
    [{ providers: { main: { ...provider, issuer: 'not a url' } } }, 'providers.main.issuer'],
    [{ providers: { main: { ...provider, privateKeyJwt: { key: {} } } } }, 'providers.main.privateKeyJwt'],
    [{ providers: { main: { ...provider, authorizationParams: { state: 'x' } } } }, 'providers.main.authorizationParams.state'],
    [{ providers: { main: provider }, defaultProvider: 'other' }, 'defaultProvider'],
    [{ providers: { main: provider }, refreshBefore: 'soon' }, 'refreshBefore'],
    [{ providers: { main: provider }, discovery: { attempts: 0 } }, 'discovery.attempts'],
    [{ providers: { main: provider }, defaultReturnTo: 'https://evil.example' }, 'defaultReturnTo'],
    [{ providers: { main: provider }, mapClaims: 'nope' }, 'mapClaims'],
    [{ providers: { main: provider }, trustedOrigins: 'https://a.example' }, 'trustedOrigins'],
    [{ providers: { main: provider }, trustedOrigins: ['https://a.example/path'] }, 'trustedOrigins[0]'],
    [{ providers: { main: provider }, trustedOrigins: ['https://a.example', '*.example.com'] }, 'trustedOrigins[1]'],
    [{ providers: { main: provider }, allowCookieStore: 'yes' }, 'allowCookieStore'],
  ])('names the option in the error: %j', (options, option) => {
    const refused = error(options);
    expect(refused.code).toBe('AUTH_OPTIONS_INVALID');
    expect(refused.message).toContain(`\`${option}\``);
  });

  it('treats JSON and XHR requests, and anything but GET/HEAD, as API requests', () => {
    const { isApiRequest } = resolveAuthOptions({ providers: { main: provider } });
    expect(isApiRequest({ method: 'GET', headers: { accept: 'text/html,application/xhtml+xml' } })).toBe(false);
    expect(isApiRequest({ method: 'GET', headers: {} })).toBe(false);
    expect(isApiRequest({ method: 'GET', headers: { accept: 'application/json' } })).toBe(true);
    expect(isApiRequest({ method: 'GET', headers: { 'x-requested-with': 'XMLHttpRequest' } })).toBe(true);
    expect(isApiRequest({ method: 'POST', headers: { accept: 'text/html' } })).toBe(true);
  });
});

describe('safeReturnTo', () => {
  it.each([
    ['/account', '/account'],
    ['/a/b?c=d#e', '/a/b?c=d#e'],
    ['/./x/../y', '/y'],
  ])('keeps the same-origin path %s', (input, expected) => {
    expect(safeReturnTo(input, '/home')).toBe(expected);
  });

  it.each([
    'https://evil.example/',
    '//evil.example',
    '///evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    'javascript:alert(1)',
    'http:evil.example',
    'evil.example',
    '/\tevil',
    '',
    undefined,
    42,
    ['/a'],
    `/${'a'.repeat(3000)}`,
  ])('refuses %j', (input) => {
    expect(safeReturnTo(input, '/home')).toBe('/home');
  });

  // Every way a dot segment can be spelt, before every separator a browser may read as "another host".
  const dots = ['.', '..', '%2e', '%2E', '%2e%2e', '.%2e', '%2e.', '%2E%2e'];
  const prefixes = ['/', '/a/', '/a/b/../', '/a/./'];
  const hosts = [
    '/evil.example',
    '\\evil.example',
    '/\\evil.example',
    '%2fevil.example',
    '%5cevil.example',
    '%2F%2Fevil.example',
    '%5C/evil.example',
  ];
  const dotted = prefixes.flatMap((prefix) => dots.flatMap((dot) => hosts.map((host) => `${prefix}${dot}/${host}`)));

  it.each(dotted)('never returns a path a browser could read as another host: %s', (input) => {
    const result = safeReturnTo(input, '/home');
    expect(result.startsWith('/')).toBe(true);
    expect(result).not.toMatch(/^\/(?:[/\\]|%2f|%5c)/i);
    expect(new URL(result, 'https://app.example').origin).toBe('https://app.example');
  });

  it.each(['/.//evil.com', '/%2e%2e//evil.com', '/a/..//evil.com/x', '/%2E//evil.com', '/./\\evil.com', '/..//%2fevil'])(
    'refuses %s, which normalises to a protocol-relative URL',
    (input) => {
      expect(safeReturnTo(input, '/home')).toBe('/home');
    },
  );

  it.each([
    ['/a/%2e%2e/b', '/b'],
    ['/%2e/b?x=1', '/b?x=1'],
    ['/a/./b/../c#d', '/a/c#d'],
  ])('still normalises harmless dot segments: %s', (input, expected) => {
    expect(safeReturnTo(input, '/home')).toBe(expected);
  });
});
