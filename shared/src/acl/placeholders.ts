// Placeholders in rule filters: ${user_id}, ${user_email}, ${client_id}. A value is substituted
// only if it cannot change the filter's structure: one holding `/`, `+`, `#` or NUL would widen or
// move the grant (user `a/b` must not reach `users/a/...`), so such a rule grants nothing instead.

export const PLACEHOLDER_NAMES = ['user_id', 'user_email', 'client_id'] as const;
export type PlaceholderName = (typeof PLACEHOLDER_NAMES)[number];
export type PlaceholderValues = Partial<Record<PlaceholderName, string>>;

const PLACEHOLDER = /\$\{([^}]*)\}/g;

/**
 * A value that can stand inside one topic level without changing what the filter matches. A value
 * holding `${` is refused too: token scopes are expanded at mint (keeping `${client_id}`) and again
 * at CONNECT, so an email like `vic${client_id}@x` would otherwise let the client id complete
 * another user's address.
 */
export function isSafePlaceholderValue(value: string): boolean {
  return value.length > 0 && !/[/+#\u0000]/.test(value) && !value.startsWith('$') && !value.includes('${');
}

/** Names used in `filter` that are not known placeholders (for validating rule sets). */
export function unknownPlaceholders(filter: string): string[] {
  const unknown: string[] = [];
  for (const m of filter.matchAll(PLACEHOLDER)) {
    if (!(PLACEHOLDER_NAMES as readonly string[]).includes(m[1]!)) unknown.push(m[1]!);
  }
  return unknown;
}

export function hasPlaceholders(filter: string): boolean {
  return filter.includes('${');
}

/**
 * Substitutes the placeholders of `filter`. Returns null (the rule grants nothing) when a needed
 * value is missing or unsafe. With `keepMissing`, placeholders without a value stay as literal text
 * (used at mint time, when the MQTT client id is not known yet).
 */
export function expandPlaceholders(filter: string, values: PlaceholderValues, keepMissing = false): string | null {
  if (!hasPlaceholders(filter)) return filter;
  let failed = false;
  const out = filter.replace(PLACEHOLDER, (whole, name: string) => {
    const value = values[name as PlaceholderName];
    if (value === undefined) {
      if (keepMissing && (PLACEHOLDER_NAMES as readonly string[]).includes(name)) return whole;
      failed = true;
      return whole;
    }
    if (!isSafePlaceholderValue(value)) {
      failed = true;
      return whole;
    }
    return value;
  });
  return failed ? null : out;
}
