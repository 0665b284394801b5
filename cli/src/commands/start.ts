// `signalgate start` — runs the token API and the broker over the data dir (the embedded default).
// First start prints the dev organisation, its key and a generated admin key once; they are kept
// only as hashes after that.
import { Option, type Command } from 'commander';
import { bootstrapDevOrg, createLogger, createServices, loadConfig, localUrlHost, LOG_FORMATS, SignalGateError, type LogFormat, type PublishChannelHolder } from '@signalgate/shared';
import type { TokenApiHandle } from '@signalgate/token-api';
import type { BrokerHandle } from '@signalgate/broker';
import type { CliContext } from '../context.js';
import { Output } from '../output.js';
import { usageError, withJson, type JsonOption } from './common.js';

interface StartOptions extends JsonOption {
  apiOnly?: boolean;
  brokerOnly?: boolean;
  logFormat?: LogFormat;
}

export function registerStart(program: Command, ctx: CliContext): void {
  withJson(program.command('start').description('run the token API and the MQTT broker (ports and paths from SIGNALGATE_* variables)'))
    .option('--api-only', 'run only the token API')
    .option('--broker-only', 'run only the broker')
    .addOption(new Option('--log-format <format>', 'log lines as JSON or readable text (default: SIGNALGATE_LOG_FORMAT, else pretty when stderr is a terminal)').choices(LOG_FORMATS))
    .action((opts: StartOptions, cmd: Command) => {
      if (opts.apiOnly && opts.brokerOnly) usageError(cmd, '--api-only and --broker-only exclude each other');
      return start(ctx, opts);
    });
}

async function start(ctx: CliContext, opts: StartOptions): Promise<void> {
  const out = new Output(ctx.stdout, opts.json === true);
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'signalgate', opts.json === true, opts.logFormat ?? config.logFormat);
  const services = createServices(config);
  let api: TokenApiHandle | undefined;
  let broker: BrokerHandle | undefined;

  const stopAll = async () => {
    await broker?.close();
    await api?.close();
    services.store.close();
  };

  let stopping = false;
  const installShutdownHandlers = () => {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.exit(1); // a second Ctrl-C: the operator wants out now
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stopAll().then(
      () => process.exit(0),
      (err: unknown) => {
        ctx.stderr.write(`signalgate: error while shutting down: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };

  try {
    const admin = await services.admin.ensure(config.adminKey);
    const dev = config.bootstrapDevOrg ? await bootstrapDevOrg(services.store, services.orgs) : null;
    const brokerPorts = [config.mqttPort, config.wsPort, config.mqttsPort, config.wssPort];
    const runApi = !opts.brokerOnly && config.apiPort !== null;
    const runBroker = !opts.apiOnly && brokerPorts.some((p) => p !== null);
    if (!runApi && !runBroker) throw new SignalGateError('invalid_request', 'nothing to start: every listener is off');
    // Loaded only here: the admin commands need neither Express nor Aedes.
    // The REST publisher of an API hands its messages to the broker of this process, once it runs.
    const publisher: PublishChannelHolder = { current: null };
    if (runApi) api = await (await import('@signalgate/token-api')).startTokenApi({ config, services, logger, publisher });
    if (runBroker) {
      broker = await (await import('@signalgate/broker')).startBroker({ config, services, logger });
      publisher.current = broker.publisher;
    }

    const host = localUrlHost(config.bind);
    const summary = {
      data_dir: config.dataDir,
      api_url: api?.url ?? null,
      dashboard_url: api ? `${api.url}/dashboard/` : null,
      mqtt_url: broker?.ports.mqtt !== undefined ? `mqtt://${host}:${broker.ports.mqtt}` : null,
      ws_url: broker?.ports.ws !== undefined ? `ws://${host}:${broker.ports.ws}/mqtt` : null,
      mqtts_url: broker?.ports.mqtts !== undefined ? `mqtts://${host}:${broker.ports.mqtts}` : null,
      wss_url: broker?.ports.wss !== undefined ? `wss://${host}:${broker.ports.wss}/mqtt` : null,
      dev_organization_id: dev?.organizationId ?? null,
      dev_secret_key: dev?.secretKey ?? null,
      admin_key: admin.generated ?? null,
    };
    // Handlers first: whoever reads the summary may signal at once, and a signal that arrives
    // before its handler exists kills the process without a clean shutdown.
    installShutdownHandlers();
    if (out.json) out.line(JSON.stringify(summary));
    else printBanner(out, summary);
  } catch (err) {
    await stopAll();
    throw err;
  }

}

function printBanner(out: Output, s: Record<string, string | null>): void {
  out.line('SignalGate is running');
  out.line(`  data dir      ${s.data_dir}`);
  for (const [label, key] of [['token API', 'api_url'], ['dashboard', 'dashboard_url'], ['MQTT', 'mqtt_url'], ['MQTT/WS', 'ws_url'], ['MQTT/TLS', 'mqtts_url'], ['MQTT/WSS', 'wss_url']] as const) {
    if (s[key]) out.line(`  ${label.padEnd(13)} ${s[key]}`);
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
  out.line('');
}
