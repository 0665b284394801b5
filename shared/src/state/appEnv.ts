// An app's own CloudSignal settings (CLOUDSIGNAL_ORG_ID, CLOUDSIGNAL_SECRET_KEY and the
// NEXT_PUBLIC_ twin of the org id, as CloudSignal's examples name them) turned into a declared
// organisation, so the emulator serves that org with that key and the app changes only its URLs.
import { SignalGateError } from '../errors.js';
import { ORG_ID_PATTERN, SECRET_KEY_PATTERN, UUID_PATTERN } from '../credentials/secrets.js';
import type { DeclaredOrg, DeclaredState } from './schema.js';

const ORG_VARS = ['CLOUDSIGNAL_ORG_ID', 'NEXT_PUBLIC_CLOUDSIGNAL_ORG_ID'] as const;
const KEY_VAR = 'CLOUDSIGNAL_SECRET_KEY';

/**
 * The organisation the app's environment names, or null when it names none. A key alone is an
 * error unless a state file is applied too (it may read the key as `${CLOUDSIGNAL_SECRET_KEY}`).
 */
export function appOrgFromEnv(env: Readonly<Record<string, string | undefined>>, { withStateFile = false } = {}): DeclaredOrg | null {
  const refs = ORG_VARS.map((v) => [v, env[v]?.trim()] as const).filter(([, value]) => value);
  if (refs.length === 2 && refs[0]![1]!.toLowerCase() !== refs[1]![1]!.toLowerCase()) {
    throw new SignalGateError('invalid_request', `${refs[0]![0]} and ${refs[1]![0]} name different organisations ('${refs[0]![1]}', '${refs[1]![1]}')`);
  }
  const [orgVar, ref] = refs[0] ?? [undefined, undefined];
  const secret = env[KEY_VAR]?.trim() || undefined;
  if (ref === undefined) {
    if (secret !== undefined && !withStateFile) throw new SignalGateError('invalid_request', `${KEY_VAR} is set but CLOUDSIGNAL_ORG_ID is not: name the organisation it belongs to`);
    return null;
  }
  const isUuid = UUID_PATTERN.test(ref);
  if (!isUuid && !ORG_ID_PATTERN.test(ref)) {
    throw new SignalGateError('invalid_request', `${orgVar}: '${ref}' is neither an organisation id (org_ and 12 lowercase letters or digits) nor a UUID`);
  }
  if (secret !== undefined && !SECRET_KEY_PATTERN.test(secret)) {
    throw new SignalGateError('invalid_request', `${KEY_VAR}: not a secret key (sk_ or cs_ followed by 20-200 letters, digits, _ or -)`);
  }
  // No name: an existing organisation keeps its own (a new one is named by its id).
  return {
    ...(isUuid ? { uuid: ref.toLowerCase() } : { id: ref }),
    ...(secret !== undefined ? { secret_keys: [{ secret, name: KEY_VAR }] } : {}),
  };
}

/** `state` with the app's organisation in it: merged into the file's entry for the same org, else added. */
export function withAppOrg(state: DeclaredState, app: DeclaredOrg | null): DeclaredState {
  if (!app) return state;
  const same = (o: DeclaredOrg) => (app.id !== undefined && o.id === app.id) || (app.uuid !== undefined && o.uuid?.toLowerCase() === app.uuid);
  const i = state.organizations.findIndex(same);
  if (i < 0) return { ...state, organizations: [...state.organizations, app] };
  const declared = state.organizations[i]!;
  const keys = declared.secret_keys ?? [];
  const extra = (app.secret_keys ?? []).filter((k) => !keys.some((d) => d.secret === k.secret));
  const merged: DeclaredOrg = { ...declared, ...(extra.length ? { secret_keys: [...keys, ...extra] } : {}) };
  return { ...state, organizations: state.organizations.map((o, j) => (j === i ? merged : o)) };
}
