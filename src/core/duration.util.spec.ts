import { describe, expect, it } from 'vitest';
import { parseDuration, type Duration } from './duration.util.js';

describe('parseDuration', () => {
  describe('numbers (milliseconds)', () => {
    it.each([
      [0, 0],
      [1, 1],
      [1000, 1000],
      [86_400_000, 86_400_000],
      [1e3, 1000],
      [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    ])('returns %s as %s ms', (input, expected) => {
      expect(parseDuration(input)).toBe(expected);
    });

    it.each([
      [1.9, 1],
      [0.5, 0],
      [999.999, 999],
    ])('floors the fractional number %s to %s', (input, expected) => {
      expect(parseDuration(input)).toBe(expected);
    });

    it.each([
      ['a negative number', -1],
      ['a negative fraction', -0.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['-Infinity', Number.NEGATIVE_INFINITY],
    ])('rejects %s', (_label, input) => {
      expect(parseDuration(input)).toBeUndefined();
    });
  });

  describe('strings', () => {
    it.each([
      ['500ms', 500],
      ['0ms', 0],
      ['0s', 0],
      ['30s', 30_000],
      ['30m', 1_800_000],
      ['12h', 43_200_000],
      ['1.5h', 5_400_000],
      ['7d', 604_800_000],
      ['2w', 1_209_600_000],
      ['0.5s', 500],
      ['1.25m', 75_000],
      ['007s', 7000],
    ])('parses %j as %d ms', (input, expected) => {
      expect(parseDuration(input)).toBe(expected);
    });

    it('rounds a fractional millisecond result', () => {
      expect(parseDuration('1.4ms')).toBe(1);
      expect(parseDuration('1.5ms')).toBe(2);
      expect(parseDuration('0.0001s')).toBe(0);
    });

    it('reads a string of digits alone as milliseconds (as environment variables carry it)', () => {
      expect(parseDuration('1000')).toBe(1000);
      expect(parseDuration(' 1800000 ')).toBe(1_800_000);
    });

    it('accepts whitespace between the number and the unit ("10 m")', () => {
      expect(parseDuration('10 m')).toBe(600_000);
      expect(parseDuration('10\tms')).toBe(10);
    });

    it('trims leading and trailing whitespace', () => {
      expect(parseDuration('  30m  ')).toBe(1_800_000);
      expect(parseDuration('\n7d\t')).toBe(604_800_000);
    });

    it.each([
      ['an empty string', ''],
      ['only whitespace', '   '],
      ['letters', 'abc'],
      ['a decimal without a unit', '10.5'],
      ['exponent notation', '1e3'],
      ['exponent notation with a unit', '1e3ms'],
      ['a negative value', '-5m'],
      ['a plus sign', '+5m'],
      ['an unknown unit', '5y'],
      ['an upper-case unit', '5M'],
      ['a spelled-out unit', '5 minutes'],
      ['a leading dot', '.5h'],
      ['a trailing dot', '5.h'],
      ['a unit without a number', 'ms'],
      ['two durations', '1h30m'],
      ['a comma decimal', '1,5h'],
      ['NaN', 'NaN'],
      ['Infinity', 'Infinity'],
      ['trailing garbage', '5mx'],
    ])('rejects %s (%j)', (_label, input) => {
      expect(parseDuration(input)).toBeUndefined();
    });
  });

  it('returns a finite number for a very long digit string it accepts', () => {
    // 20 digits exceed Number.MAX_SAFE_INTEGER but still parse to a finite value.
    expect(parseDuration('99999999999999999999ms')).toBe(1e20);
  });

  it('rejects a digit string that overflows to Infinity', () => {
    expect(parseDuration(`${'9'.repeat(400)}ms`)).toBeUndefined();
  });

  it('gives whole-millisecond decimal durations exactly', () => {
    expect(parseDuration('2.3h')).toBe(8_280_000);
    expect(parseDuration('1.005s')).toBe(1005);
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['an object', { ms: 5 }],
    ['a boolean', true],
    ['a bigint', 5n],
  ])('rejects %s given through an untyped caller', (_label, input) => {
    expect(parseDuration(input as unknown as Duration)).toBeUndefined();
  });
});
