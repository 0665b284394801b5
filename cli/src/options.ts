// Parsers for option values. A bad value is a usage error (exit 2), reported by commander with the
// option named, before anything touches the data dir.
import { InvalidArgumentError } from 'commander';

export function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('must be a whole number of 0 or more');
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('is too large');
  return n;
}

export function positiveInt(value: string): number {
  const n = nonNegativeInt(value);
  if (n < 1) throw new InvalidArgumentError('must be at least 1');
  return n;
}

/** Marks "remove this limit"; commander turns a parser's null into '' so a sentinel is needed. */
export const NO_LIMIT = 'none';

/** A per-org limit: a positive integer, or `none` / `off` / `unlimited` to remove it. */
export function limitValue(value: string): number | typeof NO_LIMIT {
  if (/^(none|off|unlimited)$/i.test(value.trim())) return NO_LIMIT;
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new InvalidArgumentError('must be a positive whole number, or "none" to remove the limit');
  return positiveInt(value);
}

export const limitOrNull = (v: number | typeof NO_LIMIT): number | null => (v === NO_LIMIT ? null : v);
