// `signalgate session list|kick` — live MQTT sessions as the brokers registered them.
import type { Command } from 'commander';
import { withServices, type CliContext } from '../context.js';
import { sessionView } from '../views.js';
import { CLI_AUDIT_CONTEXT, requireOrg, usersByRef, withJson, type JsonOption } from './common.js';

export function registerSession(program: Command, ctx: CliContext): void {
  const session = program.command('session').description('live MQTT sessions');

  withJson(session.command('list').description("list an organisation's connected clients"))
    .requiredOption('--org <id>', 'organisation id')
    .action((opts: JsonOption & { org: string }) =>
      withServices(ctx, opts, async ({ services, out }) => {
        await requireOrg(services, opts.org);
        const sessions = await services.sessions.list(opts.org);
        const users = await usersByRef(services, opts.org, sessions);
        out.list(
          sessions.map((s) => sessionView(s, users.get(s.userRef))),
          [{ key: 'client_id' }, { key: 'user_id' }, { key: 'protocol' }, { key: 'address' }, { key: 'connected_at' }, { key: 'expires_at' }],
          'no live sessions',
        );
      }),
    );

  withJson(session.command('kick').description('disconnect a client (its credential stays valid; revoke the token to keep it out)'))
    .requiredOption('--org <id>', 'organisation id')
    .requiredOption('--client <client_id>', 'MQTT client id')
    .action((opts: JsonOption & { org: string; client: string }) =>
      withServices(ctx, opts, async ({ services, out }) => {
        await requireOrg(services, opts.org);
        // The broker holding the client disconnects it when it reads the session.kick change.
        const s = await services.sessions.kick(opts.org, opts.client, CLI_AUDIT_CONTEXT);
        out.record({ kicked: true, ...sessionView(s, await services.store.users.byRef(s.orgId, s.userRef)) });
      }),
    );
}
