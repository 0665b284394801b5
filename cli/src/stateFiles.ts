// Reading what `start` and `apply` are told to apply: a state file, an env file (dotenv syntax, as
// an app's .env.local), and the app's CloudSignal settings from both.
import fs from 'node:fs';
import { parseEnv } from 'node:util';
import { appOrgFromEnv, parseStateFile, SignalGateError, withAppOrg, type DeclaredState } from '@signalgate/shared';

/** The environment `${VAR}` references and the app settings are read from: the process's, over the env file's. */
export function environmentWith(envFile: string | undefined, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (envFile === undefined) return env;
  let text: string;
  try {
    text = fs.readFileSync(envFile, 'utf8');
  } catch (err) {
    throw new SignalGateError('invalid_request', `cannot read env file ${envFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  // As dotenv and Next.js do: a variable already set in the environment wins over the file.
  return { ...parseEnv(text), ...env };
}

export function readStateFile(file: string, env: NodeJS.ProcessEnv): DeclaredState {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new SignalGateError('invalid_request', `cannot read state file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseStateFile(text, { source: file, env });
}

/** The file's state (if any) with the app's organisation from `env` merged in; null when there is neither. */
export function declaredState(stateFile: string | undefined, env: NodeJS.ProcessEnv): DeclaredState | null {
  const fromFile = stateFile === undefined ? null : readStateFile(stateFile, env);
  const app = appOrgFromEnv(env);
  if (!fromFile && !app) return null;
  return withAppOrg(fromFile ?? { organizations: [] }, app);
}
