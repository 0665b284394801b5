// `signalgate audit list` — the credential audit trail, newest first.
import type { Command } from 'commander';
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
      withServices(ctx, opts, ({ services, out }) => {
        let user = opts.user;
        if (opts.org !== undefined) {
          requireOrg(services, opts.org);
          // Within one org an email also names the user; the trail records user_id and user_ref.
          if (user !== undefined) user = services.tokens.findUser(opts.org, user)?.userRef ?? user;
        }
        const entries = services.store.audit.query({ orgId: opts.org, userId: user, event: opts.event, limit: opts.limit });
        out.list(
          entries.map(auditView),
          [{ key: 'id' }, { key: 'at' }, { key: 'event' }, { key: 'organization_id', header: 'org' }, { key: 'user_id' }, { key: 'token_id' }, { key: 'detail' }],
          'no audit records',
        );
      }),
    );
}
