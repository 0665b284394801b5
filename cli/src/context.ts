// What a command needs: the configuration (from the environment, via shared/config), the services
// over the configured store (the data dir's SQLite file, or PostgreSQL), and where to print.
// Services are opened per command and closed after it, so the CLI never holds the database longer
// than one command.
import { loadConfig, openServices, type Config, type Services } from '@signalgate/shared';
import { Output, type Writer } from './output.js';

export interface CliContext {
  stdout: Writer;
  stderr: Writer;
}

export interface CommandScope {
  config: Config;
  services: Services;
  out: Output;
  now: number;
}

/**
 * Runs `fn` with open services; the store is closed whatever happens. `--org` may name an
 * organisation by either id: it is turned into the short id here, once, for every command (as
 * the API does for its paths).
 */
export async function withServices<T>(ctx: CliContext, opts: { json?: boolean; org?: string }, fn: (scope: CommandScope) => Promise<T> | T): Promise<T> {
  const config = loadConfig();
  const services = await openServices(config);
  try {
    if (opts.org !== undefined) opts.org = (await services.store.orgs.byRef(opts.org))?.id ?? opts.org;
    return await fn({ config, services, out: new Output(ctx.stdout, opts.json === true), now: Date.now() });
  } finally {
    await services.store.close();
  }
}
