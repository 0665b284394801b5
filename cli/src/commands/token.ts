// `signalgate token list|revoke` — issued MQTT credentials (never their passwords).
import type { Command } from 'commander';
import { SignalGateError } from '@signalgate/shared';
import { withServices, type CliContext } from '../context.js';
import { tokenView } from '../views.js';
import { CLI_AUDIT_CONTEXT, requireOrg, usageError, usersByRef, withJson, type JsonOption } from './common.js';

export function registerToken(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('issued tokens (MQTT credentials)');

  withJson(token.command('list').description("list an organisation's tokens, newest first"))
    .requiredOption('--org <id>', 'organisation id')
    .option('--user <user>', 'only this user (user_id, email or user_ref)')
    .option('--live', 'only tokens that are neither expired nor revoked')
    .action((opts: JsonOption & { org: string; user?: string; live?: boolean }) =>
      withServices(ctx, opts, async ({ services, out, now }) => {
        await requireOrg(services, opts.org);
        const tokens = await services.tokens.list(opts.org, { user: opts.user, liveOnly: opts.live === true });
        const users = await usersByRef(services, opts.org, tokens);
        out.list(
          tokens.map((t) => tokenView(t, users.get(t.userRef), now)),
          [{ key: 'token_id' }, { key: 'user_id' }, { key: 'state' }, { key: 'integration_id', header: 'integration' }, { key: 'issued_at' }, { key: 'expires_at' }],
          'no tokens',
        );
      }),
    );

  withJson(token.command('revoke').description('revoke one token, or every live token of a user; their sessions end within a second'))
    .requiredOption('--org <id>', 'organisation id')
    .option('--token <token_id>', 'the token to revoke')
    .option('--user <user>', 'revoke every live token of this user (user_id, email or user_ref)')
    .option('--reason <text>', 'recorded in the audit trail', 'revoked')
    .action((opts: JsonOption & { org: string; token?: string; user?: string; reason: string }, cmd: Command) => {
      if ((opts.token === undefined) === (opts.user === undefined)) usageError(cmd, 'give exactly one of --token or --user');
      return withServices(ctx, opts, async ({ services, out, now }) => {
        await requireOrg(services, opts.org);
        if (opts.token !== undefined) {
          const t = await services.tokens.revoke(opts.org, opts.token, opts.reason, CLI_AUDIT_CONTEXT);
          out.record(tokenView(t, await services.store.users.byRef(t.orgId, t.userRef), now));
          return;
        }
        const user = await services.tokens.findUser(opts.org, opts.user!);
        if (!user) throw new SignalGateError('not_found', `user '${opts.user}' not found in ${opts.org}`);
        const revoked = await services.tokens.revokeUser(opts.org, user.userRef, opts.reason, CLI_AUDIT_CONTEXT);
        out.record({ user_id: user.userId, user_ref: user.userRef, revoked_token_ids: revoked });
      });
    });
}
