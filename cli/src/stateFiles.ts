// Reading what `start` and `apply` are told to apply: a state file, an env file (dotenv syntax, as
// an app's .env.local), and the app's CloudSignal settings from both.
import fs from 'node:fs';
import { parseEnv } from 'node:util';
import { appOrgFromEnv, MAX_STATE_FILE_BYTES, parseStateFile, SignalGateError, withAppOrg, type DeclaredState } from '@signalgate/shared';

/** The environment `${VAR}` references and the app settings are read from: the process's, over the env file's. */
export function environmentWith(envFile: string | undefined, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (envFile === undefined) return env;
  let text: string;
  try {
    text = fs.readFileSync(envFile, 'utf8');
  } catch (err) {
    throw new SignalGateError('invalid_request', `cannot read env file ${envFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  // A byte-order mark (files saved on Windows) would become part of the first variable's name.
  // As dotenv and Next.js do: a variable already set in the environment wins over the file.
  return { ...parseEnv(text.replace(/^\uFEFF/, '')), ...env };
}

export function readStateFile(file: string, env: NodeJS.ProcessEnv): DeclaredState {
  let bytes: Buffer;
  try {
    // Read at most one byte past the bound (a device or a growing file has no trustworthy size).
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(MAX_STATE_FILE_BYTES + 1);
      let n = 0;
      for (let r; n < buf.length && (r = fs.readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
      bytes = buf.subarray(0, n);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw new SignalGateError('invalid_request', `cannot read state file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (bytes.length > MAX_STATE_FILE_BYTES) throw new SignalGateError('invalid_request', `${file}: larger than ${MAX_STATE_FILE_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new SignalGateError('invalid_request', `${file}: not UTF-8 text`);
  }
  return parseStateFile(text, { source: file, env });
}

/** The file's state (if any) with the app's organisation from `env` merged in; null when there is neither. */
export function declaredState(stateFile: string | undefined, env: NodeJS.ProcessEnv): DeclaredState | null {
  const fromFile = stateFile === undefined ? null : readStateFile(stateFile, env);
  const app = appOrgFromEnv(env, { withStateFile: stateFile !== undefined });
  if (!fromFile && !app) return null;
  return withAppOrg(fromFile ?? { organizations: [] }, app);
}
