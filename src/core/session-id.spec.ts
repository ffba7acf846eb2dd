import { describe, expect, it } from 'vitest';
import { DEFAULT_ID_LENGTH, generateSessionId, isValidSessionId, MAX_ID_LENGTH, MIN_ID_LENGTH } from './session-id.js';

const BASE64URL = /^[A-Za-z0-9_-]*$/;

describe('session ID constants', () => {
  it('has the documented bounds and default', () => {
    expect(MIN_ID_LENGTH).toBe(22);
    expect(MAX_ID_LENGTH).toBe(128);
    expect(DEFAULT_ID_LENGTH).toBe(32);
  });
});

describe('generateSessionId', () => {
  it('defaults to 32 base64url characters', () => {
    const id = generateSessionId();
    expect(id).toHaveLength(32);
    expect(id).toMatch(BASE64URL);
  });

  it.each([1, 2, 3, 4, 5, 21, 22, 23, 24, 25, 31, 33, 64, 100, 127, 128])('produces exactly %i base64url characters', (length) => {
    for (let i = 0; i < 20; i++) {
      const id = generateSessionId(length);
      expect(id).toHaveLength(length);
      expect(id).toMatch(BASE64URL);
    }
  });

  it('produces an empty string for length 0', () => {
    expect(generateSessionId(0)).toBe('');
  });

  it('produces IDs that isValidSessionId accepts for every allowed length', () => {
    for (let length = MIN_ID_LENGTH; length <= MAX_ID_LENGTH; length++) {
      expect(isValidSessionId(generateSessionId(length))).toBe(true);
    }
  });

  it('never repeats over 10,000 IDs and only uses base64url characters', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const id = generateSessionId();
      expect(id).toHaveLength(DEFAULT_ID_LENGTH);
      ids.add(id);
    }
    expect(ids.size).toBe(10_000);
    const all = [...ids].join('');
    expect(all).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('uses the whole base64url alphabet, including "-" and "_", at every position', () => {
    // 10,000 IDs × 32 positions: every one of the 64 characters is expected thousands of times;
    // a generator leaking padding, "+" or "/" or never reaching part of the alphabet would fail.
    const seen = new Set<string>();
    const lastSeen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const id = generateSessionId(22);
      for (const char of id) seen.add(char);
      lastSeen.add(id[21]);
    }
    expect(seen.size).toBe(64);
    expect(seen.has('-')).toBe(true);
    expect(seen.has('_')).toBe(true);
    // The last character must carry full entropy (no zero padding bits), so it also spans all 64.
    expect(lastSeen.size).toBe(64);
  });
});

describe('isValidSessionId', () => {
  it.each([
    [21, false],
    [22, true],
    [23, true],
    [32, true],
    [127, true],
    [128, true],
    [129, false],
  ])('a %i-character base64url string is valid: %s', (length, expected) => {
    expect(isValidSessionId('a'.repeat(length))).toBe(expected);
    expect(isValidSessionId('Z9_-'.repeat(40).slice(0, length))).toBe(expected);
  });

  it('accepts every base64url character', () => {
    expect(isValidSessionId('ABCDEFGHIJKLMNOPQRSTUVWXYZ')).toBe(true);
    expect(isValidSessionId('abcdefghijklmnopqrstuvwxyz')).toBe(true);
    expect(isValidSessionId('0123456789-_0123456789-_')).toBe(true);
  });

  it('rejects the empty string', () => {
    expect(isValidSessionId('')).toBe(false);
  });

  it.each([
    ['a dot', '.'],
    ['a slash', '/'],
    ['a backslash', '\\'],
    ['a plus', '+'],
    ['padding', '='],
    ['a space', ' '],
    ['a newline', '\n'],
    ['a NUL byte', '\0'],
    ['a percent sign', '%'],
    ['a non-ASCII letter', 'é'],
    ['an emoji', '😀'],
  ])('rejects an otherwise valid ID containing %s', (_label, bad) => {
    const base = 'a'.repeat(30);
    expect(isValidSessionId(base)).toBe(true);
    expect(isValidSessionId(base + bad)).toBe(false);
    expect(isValidSessionId(bad + base)).toBe(false);
    expect(isValidSessionId(base.slice(0, 15) + bad + base.slice(15))).toBe(false);
  });

  it('rejects path traversal shapes', () => {
    expect(isValidSessionId('../../../../etc/passwd/aaaaaa')).toBe(false);
    expect(isValidSessionId('..%2F..%2F..%2Fetc%2Fpasswd')).toBe(false);
  });

  it('rejects a trailing newline (the pattern is anchored to the whole string)', () => {
    expect(isValidSessionId(`${'a'.repeat(30)}\n`)).toBe(false);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 12345678901234567890123],
    ['an array of characters', 'a'.repeat(30).split('')],
    ['a String object', new String('a'.repeat(30))],
    ['an object with a toString', { toString: () => 'a'.repeat(30) }],
    ['a boolean', true],
  ])('rejects %s', (_label, value) => {
    expect(isValidSessionId(value)).toBe(false);
  });
});
