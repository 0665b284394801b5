// `signalgate audit list|export` — the credential audit trail: newest first, or all of it as JSON lines.
// `signalgate purge` — retention now (what the token API does every hour).
import type { Command } from 'commander';
import { SignalGateError } from '@signalgate/shared';
import { withServices, type CliContext } from '../context.js';
import { positiveInt } from '../options.js';
import { auditView } from '../views.js';
import { requireOrg, withJson, type JsonOption } from './common.js';

export function registerAudit(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description('the audit trail of credential events');

  withJson(audit.command('list').description('list audit records, newest first'))
    .option('--org <id>', 'only this organisation')
    .option('--user <user>', 'only this user (user_id or user_ref)')
    .option('--event <event>', 'only this event (e.g. token.minted, token.revoked, key.created)')
    .option('--limit <n>', 'at most this many records (max 1000)', positiveInt, 100)
    .action((opts: JsonOption & { org?: string; user?: string; event?: string; limit: number }) =>
      withServices(ctx, opts, async ({ services, out }) => {
        let user = opts.user;
        if (opts.org !== undefined) {
          await requireOrg(services, opts.org);
          // Within one org an email also names the user; the trail records user_id and user_ref.
          if (user !== undefined) user = (await services.tokens.findUser(opts.org, user))?.userRef ?? user;
        }
        const entries = await services.store.audit.query({ orgId: opts.org, userId: user, event: opts.event, limit: opts.limit });
        out.list(
          entries.map(auditView),
          [{ key: 'id' }, { key: 'at' }, { key: 'event' }, { key: 'organization_id', header: 'org' }, { key: 'user_id' }, { key: 'token_id' }, { key: 'detail' }],
          'no audit records',
        );
      }),
    );

  audit
    .command('export')
    .description('write audit records as JSON lines, oldest first (save them before SIGNALGATE_AUDIT_RETENTION_DAYS purges them)')
    .option('--org <id>', 'only this organisation')
    .option('--before <time>', 'only records written before this ISO time (e.g. what the next purge removes)')
    .action((opts: { org?: string; before?: string }) =>
      withServices(ctx, opts, async ({ services }) => {
        if (opts.org !== undefined) await requireOrg(services, opts.org);
        const before = opts.before === undefined ? null : Date.parse(opts.before);
        if (before !== null && Number.isNaN(before)) throw new SignalGateError('invalid_request', `--before: not a time: ${opts.before}`);
        for (const e of await services.store.audit.all({ orgId: opts.org ?? null, before })) ctx.stdout.write(`${JSON.stringify(auditView(e))}\n`);
      }),
    );
}

export function registerPurge(program: Command, ctx: CliContext): void {
  withJson(program.command('purge').description('delete what retention no longer keeps (SIGNALGATE_RETENTION_DAYS, _AUDIT_, _HISTORY_); the token API does it every hour'))
    .action((opts: JsonOption) =>
      withServices(ctx, opts, async ({ services, out }) => {
        out.record({ ...(await services.retention.purge()), ...services.retention.settings });
      }),
    );
}
