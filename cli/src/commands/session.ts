// `signalgate session list|kick` — live MQTT sessions as the brokers registered them.
import type { Command } from 'commander';
import { SignalGateError, type Services } from '@signalgate/shared';
import { withServices, type CliContext } from '../context.js';
import { sessionView } from '../views.js';
import { requireOrg, withJson, type JsonOption } from './common.js';

/**
 * Asks the broker holding the session to disconnect it: a `session.kick` change (ref = client id)
 * that every broker polls, written in the same transaction as its audit record.
 */
export function kickSession(services: Services, orgId: string, clientId: string, now: number) {
  return services.store.transaction(() => {
    const session = services.store.sessions.list(orgId).find((s) => s.clientId === clientId);
    if (!session) throw new SignalGateError('not_found', `no live session with client id '${clientId}' in ${orgId}`);
    const user = services.store.users.byRef(orgId, session.userRef);
    services.store.changes.append('session.kick', orgId, clientId, now);
    services.store.audit.record(
      { event: 'session.kicked', orgId, userId: user?.userId, userRef: session.userRef, tokenId: session.tokenId, userAgent: 'signalgate-cli', detail: { client_id: clientId } },
      now,
    );
    return { session, user };
  });
}

export function registerSession(program: Command, ctx: CliContext): void {
  const session = program.command('session').description('live MQTT sessions');

  withJson(session.command('list').description("list an organisation's connected clients"))
    .requiredOption('--org <id>', 'organisation id')
    .action((opts: JsonOption & { org: string }) =>
      withServices(ctx, opts, ({ services, out }) => {
        requireOrg(services, opts.org);
        out.list(
          services.store.sessions.list(opts.org).map((s) => sessionView(s, services.store.users.byRef(s.orgId, s.userRef))),
          [{ key: 'client_id' }, { key: 'user_id' }, { key: 'protocol' }, { key: 'address' }, { key: 'connected_at' }, { key: 'expires_at' }],
          'no live sessions',
        );
      }),
    );

  withJson(session.command('kick').description('disconnect a client (its credential stays valid; revoke the token to keep it out)'))
    .requiredOption('--org <id>', 'organisation id')
    .requiredOption('--client <client_id>', 'MQTT client id')
    .action((opts: JsonOption & { org: string; client: string }) =>
      withServices(ctx, opts, ({ services, out, now }) => {
        requireOrg(services, opts.org);
        const { session: s, user } = kickSession(services, opts.org, opts.client, now);
        out.record({ kicked: true, ...sessionView(s, user) });
      }),
    );
}
