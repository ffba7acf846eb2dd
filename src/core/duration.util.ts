const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * A length of time: milliseconds as a number, or a string such as `'500ms'`, `'30s'`, `'30m'`,
 * `'12h'`, `'7d'` or `'2w'` (decimals such as `'1.5h'` are allowed). A string of digits alone
 * (`'1800000'`, as environment variables carry it) is milliseconds.
 */
export type Duration = number | string;

const PATTERN = /^(?:(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)|(\d+))$/;

/** Milliseconds of a {@link Duration}, or `undefined` when it is not a valid non-negative duration. */
export function parseDuration(value: Duration): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const match = PATTERN.exec(value.trim());
  if (!match) return undefined;
  // Rounded, not floored: 2.3 * 3_600_000 is 8279999.999… in floating point.
  const ms = match[3] !== undefined ? Number(match[3]) : Math.round(Number(match[1]) * UNITS[match[2]]);
  return Number.isFinite(ms) ? ms : undefined;
}
