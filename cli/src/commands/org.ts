// `signalgate org create|list|update|set-default-rules`
import type { Command } from 'commander';
import { ORG_LIMITS, type OrgLimits, type OrgSettings } from '@signalgate/shared';
import { withServices, type CliContext } from '../context.js';
import { limitOrNull, limitValue, positiveInt, type NO_LIMIT } from '../options.js';
import { orgView, ruleSetView } from '../views.js';
import { requireOrg, withJson, type JsonOption } from './common.js';

interface UpdateOptions extends JsonOption {
  org: string;
  name?: string;
  defaultTtl?: number;
  minTtl?: number;
  maxTtl?: number;
  maxTokenLifetime?: number;
  /** One per ORG_LIMITS row, under its key (commander camel-cases `--max-connections` to `maxConnections`). */
  [limit: string]: unknown;
}

const optionOf = (field: string) => `--${field.replace(/_/g, '-')} <n|none>`;

interface DefaultRulesOptions extends JsonOption {
  org: string;
  publish?: string[];
  subscribe?: string[];
  denyPublish?: string[];
  denySubscribe?: string[];
  presence?: boolean;
  history?: boolean;
}

const ORG_COLUMNS = [{ key: 'organization_id' }, { key: 'name' }, { key: 'created_at' }, { key: 'default_ttl_seconds', header: 'ttl' }];

export function registerOrg(program: Command, ctx: CliContext): void {
  const org = program.command('org').description('organisations: their settings, limits and default rule set');

  withJson(org.command('create').description('create an organisation with an allow-all default rule set and its first secret key'))
    .requiredOption('--name <name>', 'display name')
    .action((opts: JsonOption & { name: string }) =>
      withServices(ctx, opts, async ({ services, out }) => {
        const { org: created, secretKey, key } = await services.orgs.create(opts.name);
        out.record(
          { organization_id: created.id, secret_key: secretKey, name: created.name, key_id: key.id, key_prefix: key.prefix },
          ['', 'The secret key is shown once: store it now (it is kept only as a hash).'],
        );
      }),
    );

  withJson(org.command('list').description('list organisations')).action((opts: JsonOption) =>
    withServices(ctx, opts, async ({ services, out }) => {
      out.list((await services.orgs.list()).map(orgView), ORG_COLUMNS, 'no organisations yet');
    }),
  );

  const update = withJson(org.command('update').description('change TTL bounds and per-organisation limits ("none" removes a limit)'))
    .requiredOption('--org <id>', 'organisation id')
    .option('--name <name>', 'display name')
    .option('--default-ttl <seconds>', 'token TTL when a request names none', positiveInt)
    .option('--min-ttl <seconds>', 'shortest TTL a request may ask for', positiveInt)
    .option('--max-ttl <seconds>', 'longest TTL a request may ask for', positiveInt)
    .option('--max-token-lifetime <seconds>', 'how long a token lives from its mint however often it is refreshed', positiveInt);
  for (const l of ORG_LIMITS) update.option(optionOf(l.field), l.help, limitValue);
  update
    .action((opts: UpdateOptions) =>
      withServices(ctx, opts, async ({ services, out }) => {
        const limits: Partial<Record<keyof OrgLimits, number | null>> = {};
        for (const l of ORG_LIMITS) {
          const given = opts[l.key] as number | typeof NO_LIMIT | undefined;
          if (given !== undefined) limits[l.key] = limitOrNull(given);
        }
        const settings: OrgSettings = { limits };
        if (opts.name !== undefined) settings.name = opts.name;
        if (opts.defaultTtl !== undefined) settings.defaultTtlSeconds = opts.defaultTtl;
        if (opts.minTtl !== undefined) settings.minTtlSeconds = opts.minTtl;
        if (opts.maxTtl !== undefined) settings.maxTtlSeconds = opts.maxTtl;
        if (opts.maxTokenLifetime !== undefined) settings.maxTokenLifetimeSeconds = opts.maxTokenLifetime;
        out.record(orgView(await services.orgs.update(opts.org, settings)));
      }),
    );

  withJson(
    org
      .command('set-default-rules')
      .description("replace the organisation's default rule set (what every token is limited to); options left out keep their current value"),
  )
    .requiredOption('--org <id>', 'organisation id')
    .option('--publish <filters...>', 'topic filters clients may publish to')
    .option('--subscribe <filters...>', 'topic filters clients may subscribe to')
    .option('--deny-publish <filters...>', 'topic filters publishing is denied on, whatever the allow lists say')
    .option('--deny-subscribe <filters...>', 'a subscription that could receive a topic of these filters is refused')
    .option('--presence', 'allow the presence permission')
    .option('--no-presence', 'deny the presence permission')
    .option('--history', 'allow the history permission')
    .option('--no-history', 'deny the history permission')
    .action((opts: DefaultRulesOptions) =>
      withServices(ctx, opts, async ({ services, out }) => {
        await requireOrg(services, opts.org);
        const current = await services.rules.getDefault(opts.org);
        const updated = await services.rules.setDefault(opts.org, {
          publish: opts.publish ?? current.publish,
          subscribe: opts.subscribe ?? current.subscribe,
          denyPublish: opts.denyPublish ?? current.denyPublish ?? [],
          denySubscribe: opts.denySubscribe ?? current.denySubscribe ?? [],
          presence: opts.presence ?? current.presence,
          history: opts.history ?? current.history,
        });
        out.record(ruleSetView(updated));
      }),
    );
}
