// `signalgate start` — runs the token API and the broker over the data dir (the embedded default),
// or a throwaway one (--ephemeral). A declared state (--state) and an app's own CloudSignal
// settings (CLOUDSIGNAL_ORG_ID / _SECRET_KEY, in the environment or --env-file) are applied first;
// without either, the first start creates a dev organisation. Generated keys are printed once;
// only hashes are kept.
import { Option, type Command } from 'commander';
import cluster from 'node:cluster';
import { createLogger, LOG_FORMATS, type Config, type DeclaredState, type LogFormat, type Logger } from '@signalgate/shared';
import type { CliContext } from '../context.js';
import { appSettingsOf, declaredKeysOf, launch, type Launched, type Summary } from '../launch.js';
import { reportToPrimary, runWorkers, workerCount } from '../workers.js';
import { declaredState, environmentWith } from '../stateFiles.js';
import { Output } from '../output.js';
import { usageError, withJson, type JsonOption } from './common.js';

interface StartOptions extends JsonOption {
  apiOnly?: boolean;
  brokerOnly?: boolean;
  logFormat?: LogFormat;
  ephemeral?: boolean;
  state?: string;
  envFile?: string;
  workers?: string;
}

export function registerStart(program: Command, ctx: CliContext): void {
  withJson(program.command('start').description('run the token API and the MQTT broker (ports and paths from SIGNALGATE_* variables)'))
    .option('--api-only', 'run only the token API')
    .option('--broker-only', 'run only the broker')
    .option('--ephemeral', 'a throwaway run: fresh data dir (removed on exit), port 0 (the OS picks) for every listener not set, token TTLs down to 1 s')
    .option('--state <file>', 'apply this declared-state file (YAML or JSON) before starting; idempotent')
    .option('--workers <n>', 'processes behind the same ports (node:cluster): a number or auto; default one per core with SIGNALGATE_REDIS_URL, else 1')
    .option('--env-file <file>', 'read the app\'s settings (CLOUDSIGNAL_ORG_ID, CLOUDSIGNAL_SECRET_KEY) and ${VAR}s from this dotenv file too')
    .addOption(new Option('--log-format <format>', 'log lines as JSON or readable text (default: SIGNALGATE_LOG_FORMAT, else pretty when stderr is a terminal)').choices(LOG_FORMATS))
    .action((opts: StartOptions, cmd: Command) => {
      if (opts.apiOnly && opts.brokerOnly) usageError(cmd, '--api-only and --broker-only exclude each other');
      return start(ctx, opts);
    });
}

async function start(ctx: CliContext, opts: StartOptions): Promise<void> {
  if (cluster.isWorker) return startWorker(opts);
  const out = new Output(ctx.stdout, opts.json === true);
  const env = environmentWith(opts.envFile);
  const state = declaredState(opts.state, env);
  const workers = workerCount(opts.workers, env);
  let logger: Logger | undefined;
  const loggerOf = (config: Config) => (logger = createLogger(config.logLevel, 'signalgate', opts.json === true, opts.logFormat ?? config.logFormat));

  if (workers > 1) {
    // The primary prepares the data dir and opens no listener; the workers listen (workers.ts).
    const prepared = await launch({ env, state, ephemeral: opts.ephemeral === true, listen: false, logger: loggerOf });
    const summary = await runWorkers(workers, prepared, logger!);
    return report(out, summary, state);
  }

  const run = await launch({ env, state, ephemeral: opts.ephemeral === true, api: !opts.brokerOnly, broker: !opts.apiOnly, logger: loggerOf });
  stopOnSignals(run, () => logger, ctx);
  report(out, run.summary, state);
}

/** A worker of --workers: listens over the data dir the primary prepared, and tells it where. */
async function startWorker(opts: StartOptions): Promise<void> {
  let logger: Logger | undefined;
  try {
    const run = await launch({
      env: process.env, state: null, ephemeral: false, api: !opts.brokerOnly, broker: !opts.apiOnly,
      logger: (config) => (logger = createLogger(config.logLevel, 'signalgate', true, opts.logFormat ?? config.logFormat)),
    });
    stopOnSignals(run, () => logger, { stderr: process.stderr });
    reportToPrimary({ summary: run.summary });
  } catch (err) {
    reportToPrimary({ failed: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
}

/** SIGINT/SIGTERM stop the run cleanly (MQTT 5 clients are told 0x8B); a second one ends the process at once. */
function stopOnSignals(run: Launched, logger: () => Logger | undefined, io: Pick<CliContext, 'stderr'>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1); // a second Ctrl-C: the operator wants out now
    stopping = true;
    logger()?.info({ signal }, 'shutting down');
    run.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        io.stderr.write(`signalgate: error while shutting down: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  // Handlers first: whoever reads the summary may signal at once, and a signal that arrives
  // before its handler exists kills the process without a clean shutdown.
  // SIGHUP: the terminal window was closed; an ephemeral run must still clean up.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
}

/** The banner (or the --json line), written only once every listener is up and every startup log line is out. */
function report(out: Output, s: Summary, state: DeclaredState | null): void {
  // Declared keys are echoed only for a throwaway run, where the caller (a test) wants them back.
  const organizations = s.organizations.map((o) => ({ ...o, ...(s.ephemeral ? { secret_keys: declaredKeysOf(state, o) } : {}) }));
  const app = appSettingsOf(s);
  if (out.json) out.line(JSON.stringify({ ...s, organizations, app_settings: app }));
  else printBanner(out, s, app);
}

function printBanner(out: Output, s: Summary, app: Record<string, string>): void {
  const workers = (s as Summary & { workers?: number[] }).workers;
  out.line(`${s.ephemeral ? 'SignalGate is running (ephemeral: nothing is kept after it stops)' : 'SignalGate is running'}${workers ? ` in ${workers.length} worker processes` : ''}`);
  out.line(`  data dir      ${s.data_dir}`);
  for (const [label, key] of [['token API', 'api_url'], ['dashboard', 'dashboard_url'], ['MQTT', 'mqtt_url'], ['MQTT/WS', 'ws_url'], ['MQTT/TLS', 'mqtts_url'], ['MQTT/WSS', 'wss_url']] as const) {
    if (s[key]) out.line(`  ${label.padEnd(13)} ${s[key]}`);
  }
  if (s.state_changes.length > 0) {
    out.line('');
    out.line(`Declared state applied (${s.state_changes.length} change(s)):`);
    for (const c of s.state_changes.slice(0, 20)) out.line(`  ${c}`);
    if (s.state_changes.length > 20) out.line(`  … and ${s.state_changes.length - 20} more`);
  }
  if (s.organizations.length > 0) {
    out.line('');
    out.line('Organisations served:');
    for (const o of s.organizations) out.line(`  ${o.id}  ${o.uuid}  ${o.name}`);
  }
  if (s.dev_organization_id) {
    out.line('');
    out.line('Development organisation created (shown once; only hashes are kept):');
    out.line(`  organization_id  ${s.dev_organization_id}`);
    out.line(`  secret_key       ${s.dev_secret_key}`);
  }
  if (s.admin_key) {
    out.line('');
    out.line('Admin key generated (shown once; set SIGNALGATE_ADMIN_KEY to choose your own):');
    out.line(`  admin_key        ${s.admin_key}`);
  }
  if (Object.keys(app).length > 0) {
    out.line('');
    out.line("Point your app here (only the URLs change; your org id and key stay as they are):");
    for (const [k, v] of Object.entries(app)) out.line(`  ${k}=${v}`);
  }
  out.line('');
}
