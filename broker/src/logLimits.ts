// What keeps a client's refusals from flooding the log: repeated refusals of one session are
// logged on the 1st, 2nd, 4th, 8th… occurrence, and names a client chooses (usernames, client ids,
// filters) are cut to a readable length.

/** Strings a client sends are logged up to this length. */
const LOGGED_CHARS = 128;

/** Whether the `count`th refusal of a session (1-based) is logged. */
export const isLoggedOccurrence = (count: number): boolean => (count & (count - 1)) === 0;

/** `s` cut to LOGGED_CHARS, marked with an ellipsis where it was cut. */
export const clipped = <T extends string | undefined>(s: T): T =>
  (s !== undefined && s.length > LOGGED_CHARS ? `${s.slice(0, LOGGED_CHARS)}…` : s) as T;
