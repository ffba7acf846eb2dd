import { describe, expect, it } from 'vitest';
import { cookiePathMatches, requestPath } from './cookie.util.js';

describe('requestPath', () => {
  it.each([
    ['/app/page', '/app/page'],
    ['/app/page?x=1&y=/z', '/app/page'],
    ['/app/page#top', '/app/page'],
    ['/app?x#y', '/app'],
    ['/a%20b/c', '/a%20b/c'],
    ['/', '/'],
    ['', '/'],
    [undefined, '/'],
    ['?x=1', '/'],
    ['*', '/'],
    ['http://example.com/app/x?y', '/app/x'],
    ['https://example.com', '/'],
    ['http://example.com?x=/app', '/'],
  ])('gives the path of %j as %j', (url, path) => {
    expect(requestPath(url)).toBe(path);
  });
});

describe('cookiePathMatches (RFC 6265 §5.1.4)', () => {
  it.each([
    ['/app', '/app', true],
    ['/app/', '/app', true],
    ['/app/x/y', '/app', true],
    ['/app/x', '/app/', true],
    ['/application', '/app', false],
    ['/ap', '/app', false],
    ['/', '/app', false],
    ['/anything', '/', true],
    ['/App', '/app', false],
  ])('%j under cookie path %j: %s', (path, cookiePath, matches) => {
    expect(cookiePathMatches(path, cookiePath)).toBe(matches);
  });
});
