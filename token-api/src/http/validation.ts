// Turns zod issues into the one 400 body: the first issue, prefixed with the field it concerns.
// Messages describe types, never the submitted value (which could be a secret).
import type { z } from 'zod';
import { SignalGateError } from '@signalgate/shared';

export type Location = 'body' | 'query' | 'params';

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    const received = /received (\w+)/.exec(issue.message)?.[1];
    return received === 'undefined' ? `required (expected ${issue.expected})` : `expected ${issue.expected}${received ? `, received ${received}` : ''}`;
  }
  return issue.message.replace(/^Invalid input: /, '');
}

export function validationError(where: Location, error: z.ZodError): SignalGateError {
  const issue = error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('') : where;
  return new SignalGateError('invalid_request', `${field}: ${describe(issue)}`, { field });
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: Location): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(where, result.error);
  return result.data;
}
