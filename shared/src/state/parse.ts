// Reading a declared-state file: YAML (a JSON file is YAML too) → environment variables put in →
// the schema → cross-checks no schema can make (duplicate ids, an integration naming a rule set
// the file does not declare). Every problem names its line, all of them at once.
import { isMap, isPair, isScalar, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { SignalGateError } from '../errors.js';
import { publicPrefixOf } from '../credentials/secrets.js';
import { assertValidRules } from '../services/rules.js';
import { MIN_SECRET_BYTES, providerConfigOf } from '../identity/presets.js';
import { StateSchema, type DeclaredState } from './schema.js';
import { providerInputOf, rulesOfDeclared } from './convert.js';

/**
 * `${NAME}` (upper-case name) in a `secret` field reads the environment. Only there: elsewhere a
 * `${…}` is text (an org named 'Team ${X}' must export and apply as itself, and `${user_id}` is a
 * rule placeholder), so an environment value can never land in a name, a filter or a URL.
 */
const ENV_REFERENCE = /\$\{([A-Z_][A-Z0-9_]*)\}/g;
const SECRET_FIELD = 'secret';
const MAX_PROBLEMS = 20;
/** A state file is small: larger ones are refused (readers check it before reading, too). */
export const MAX_STATE_FILE_BYTES = 4 * 1024 * 1024;

export interface StateProblem {
  line: number;
  path: string;
  message: string;
}

/** A state file that cannot be applied; `problems` each name a line of `source`. */
export class StateFileError extends SignalGateError {
  constructor(readonly source: string, readonly problems: StateProblem[]) {
    super('invalid_request', problems.map((p) => `${source}:${p.line}: ${p.path ? `${p.path}: ` : ''}${p.message}`).join('\n'));
    this.name = 'StateFileError';
  }
}

type PathKey = string | number;
const pathText = (path: readonly PathKey[]) =>
  path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${k}` : k), '');

export function parseStateFile(text: string, { source = 'state file', env = process.env }: { source?: string; env?: NodeJS.ProcessEnv } = {}): DeclaredState {
  if (Buffer.byteLength(text) > MAX_STATE_FILE_BYTES) throw new StateFileError(source, [{ line: 1, path: '', message: `larger than ${MAX_STATE_FILE_BYTES} bytes` }]);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const lineAt = (offset: number | undefined) => (offset === undefined ? 1 : lines.linePos(offset).line);
  if (doc.errors.length > 0) {
    throw new StateFileError(source, doc.errors.slice(0, MAX_PROBLEMS).map((e) => ({ line: lineAt(e.pos[0]), path: '', message: e.message.split('\n')[0]! })));
  }

  const problems: StateProblem[] = [];
  substituteEnv(doc, env, (node, name) => problems.push({ line: lineAt(node.range?.[0]), path: '', message: `environment variable ${name} is not set` }));
  if (problems.length > 0) throw new StateFileError(source, problems);

  const lineOf = (path: readonly PathKey[], key?: string) => lineAt(nodeAt(doc, path, key)?.range?.[0]);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    // The yaml library refuses alias bombs (billion laughs) and the like here.
    throw new StateFileError(source, [{ line: 1, path: '', message: err instanceof Error ? err.message : String(err) }]);
  }
  const parsed = StateSchema.safeParse(data);
  if (!parsed.success) {
    for (const issue of parsed.error.issues.slice(0, MAX_PROBLEMS)) {
      const path = issue.path.filter((k): k is PathKey => typeof k !== 'symbol');
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push({ line: lineOf(path, key), path: pathText([...path, key]), message: 'unknown key' });
      } else {
        problems.push({ line: lineOf(path), path: pathText(path), message: issue.message });
      }
    }
    throw new StateFileError(source, problems.sort((a, b) => a.line - b.line).slice(0, MAX_PROBLEMS));
  }
  crossCheck(parsed.data, (path, message) => problems.push({ line: lineOf(path), path: pathText(path), message }));
  if (problems.length > 0) throw new StateFileError(source, problems.slice(0, MAX_PROBLEMS));
  return parsed.data;
}

/** Puts environment values in for `${NAME}` in every string scalar (keys stay as written). */
function substituteEnv(doc: Document, env: NodeJS.ProcessEnv, missing: (node: Node, name: string) => void): void {
  visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const pair = path[path.length - 1];
      if (!isPair(pair) || !isScalar(pair.key) || pair.key.value !== SECRET_FIELD) return;
      node.value = node.value.replace(ENV_REFERENCE, (whole, name: string) => {
        const value = env[name];
        if (value === undefined) {
          missing(node, name);
          return whole;
        }
        return value;
      });
    },
  });
}

/**
 * The node at `path` (or, with `key`, the key node of that entry of the map at `path`); the
 * nearest existing ancestor when the path goes further than the document (a missing field).
 */
function nodeAt(doc: Document, path: readonly PathKey[], key?: string): Node | undefined {
  let node: unknown = doc.contents;
  let found = node as Node | undefined;
  for (const k of key === undefined ? path : [...path, key]) {
    if (!isMap(node) && !(node && typeof node === 'object' && 'items' in node)) break;
    const items = (node as { items: unknown[] }).items;
    const item = isMap(node) ? items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === k) : items[k as number];
    if (item === undefined) break;
    if (isPair(item)) {
      if (k === key) return item.key as Node;
      node = item.value;
    } else {
      node = item;
    }
    if (node && typeof node === 'object' && 'range' in node) found = node as Node;
  }
  return found;
}

/** What one organisation's entries must not repeat, and what an integration may name. */
function crossCheck(state: DeclaredState, problem: (path: PathKey[], message: string) => void): void {
  const seen = new Map<string, string>();
  /** Ids and names compare without case (UUIDs, rule set names as the store does); secrets exactly, and are never printed whole. */
  const once = (what: string, value: string | undefined, path: PathKey[], secret = false) => {
    if (value === undefined) return;
    const k = `${what}\u0000${secret ? value : value.toLowerCase()}`;
    const first = seen.get(k);
    const shown = secret ? `${publicPrefixOf(value)}…` : value;
    if (first !== undefined) problem(path, `${what} '${shown}' is declared twice (first at ${first})`);
    else seen.set(k, pathText(path));
  };
  /** What the services would refuse at apply time, refused here with its line. */
  const valid = (path: PathKey[], check: () => unknown) => {
    try {
      check();
    } catch (err) {
      if (!(err instanceof SignalGateError)) throw err;
      const field = err.field?.match(/[^[\].]+/g)?.map((k) => (/^\d+$/.test(k) ? Number(k) : k)) ?? [];
      problem([...path, ...field], err.field ? err.message.slice(err.field.length + 2) : err.message);
    }
  };
  state.organizations.forEach((org, i) => {
    const at: PathKey[] = ['organizations', i];
    once('organization id', org.id, [...at, 'id']);
    once('organization uuid', org.uuid, [...at, 'uuid']);
    org.secret_keys?.forEach((k, j) => once('secret key', k.secret, [...at, 'secret_keys', j, 'secret'], true));
    if (org.default_rules) valid([...at, 'default_rules'], () => assertValidRules(rulesOfDeclared(org.default_rules!)));
    org.rule_sets?.forEach((rs, j) => valid([...at, 'rule_sets', j], () => assertValidRules(rulesOfDeclared(rs))));
    org.providers?.forEach((p, j) => valid([...at, 'providers', j], () => providerConfigOf({ ...providerInputOf(p), secret: p.secret ?? (p.hmac ? 'x'.repeat(MIN_SECRET_BYTES) : undefined) })));
    const names = new Set<string>();
    org.rule_sets?.forEach((rs, j) => {
      if (rs.name === 'default') problem([...at, 'rule_sets', j, 'name'], "'default' is the org's default rule set: declare it as default_rules");
      once(`rule set of organizations[${i}]`, rs.name, [...at, 'rule_sets', j, 'name']);
      names.add(rs.name);
    });
    org.integrations?.forEach((integ, j) => {
      once(`integration of organizations[${i}]`, integ.integration_id, [...at, 'integrations', j, 'integration_id']);
      if (org.rule_sets !== undefined && integ.rule_set !== 'default' && !names.has(integ.rule_set)) {
        problem([...at, 'integrations', j, 'rule_set'], `names rule set '${integ.rule_set}', which rule_sets does not declare`);
      }
    });
    org.providers?.forEach((p, j) => once(`provider of organizations[${i}]`, p.name ?? p.type, [...at, 'providers', j, p.name === undefined ? 'type' : 'name']));
  });
}
