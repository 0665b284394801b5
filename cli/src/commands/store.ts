// `signalgate migrate` — bring the configured store's schema to this version (every process also
// does it when it starts; this is the step to run before rolling a new version out).
// `signalgate store copy --to postgres://…` — the data dir's SQLite store into an empty PostgreSQL
// database, once, with every SignalGate process stopped; then set SIGNALGATE_DATABASE_URL.
import type { Command } from 'commander';
import { copySqliteStoreToPostgres, loadConfig, openStore, SignalGateError } from '@signalgate/shared';
import { Output } from '../output.js';
import type { CliContext } from '../context.js';
import { withJson, type JsonOption } from './common.js';

const POSTGRES_URL = /^postgres(ql)?:\/\/\S+$/;

export function registerStore(program: Command, ctx: CliContext): void {
  withJson(program.command('migrate').description("apply the store's pending schema migrations (SQLite file, or PostgreSQL with SIGNALGATE_DATABASE_URL)"))
    .action(async (opts: JsonOption) => {
      const config = loadConfig();
      const store = await openStore(config);
      await store.close();
      new Output(ctx.stdout, opts.json === true).record({ store: store.kind, migrated: true, where: store.kind === 'sqlite' ? config.dataDir : 'SIGNALGATE_DATABASE_URL' });
    });

  const store = program.command('store').description('the store itself');
  withJson(store.command('copy').description('copy the data dir\'s SQLite store into an empty PostgreSQL database (stop SignalGate first)'))
    .requiredOption('--to <url>', 'postgres://user:password@host:port/database (an empty database)')
    .action(async (opts: JsonOption & { to: string }) => {
      if (!POSTGRES_URL.test(opts.to)) throw new SignalGateError('invalid_request', `--to: must be a postgres:// URL, got "${opts.to}"`);
      const config = loadConfig();
      const counts = await copySqliteStoreToPostgres(config.dataDir, opts.to);
      new Output(ctx.stdout, opts.json === true).record({ from: config.dataDir, copied: counts, next: 'set SIGNALGATE_DATABASE_URL to the database copied into' });
    });
}
