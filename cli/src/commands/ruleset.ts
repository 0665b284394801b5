// `signalgate ruleset create|list|delete` — named rule sets that integrations bind tokens to.
import type { Command } from 'commander';
import { withServices, type CliContext } from '../context.js';
import { ruleSetView } from '../views.js';
import { requireOrg, withJson, type JsonOption } from './common.js';

interface CreateOptions extends JsonOption {
  org: string;
  name: string;
  publish?: string[];
  subscribe?: string[];
  denyPublish?: string[];
  denySubscribe?: string[];
  presence?: boolean;
  history?: boolean;
}

export function registerRuleset(program: Command, ctx: CliContext): void {
  const ruleset = program.command('ruleset').description('named rule sets (bound to integrations)');

  withJson(ruleset.command('create').description('create a rule set; an action without filters is not allowed'))
    .requiredOption('--org <id>', 'organisation id')
    .requiredOption('--name <name>', 'rule set name (unique in the organisation)')
    .option('--publish <filters...>', 'topic filters allowed for publish (placeholders: ${user_id} ${user_email} ${client_id})')
    .option('--subscribe <filters...>', 'topic filters allowed for subscribe')
    .option('--deny-publish <filters...>', 'topic filters publishing is denied on, whatever the allow lists say')
    .option('--deny-subscribe <filters...>', 'a subscription that could receive a topic of these filters is refused')
    .option('--presence', 'allow the presence permission', false)
    .option('--history', 'allow the history permission', false)
    .action((opts: CreateOptions) =>
      withServices(ctx, opts, async ({ services, out }) => {
        await requireOrg(services, opts.org);
        const created = await services.rules.create(opts.org, opts.name, {
          publish: opts.publish ?? [],
          subscribe: opts.subscribe ?? [],
          denyPublish: opts.denyPublish ?? [],
          denySubscribe: opts.denySubscribe ?? [],
          presence: opts.presence === true,
          history: opts.history === true,
        });
        out.record(ruleSetView(created));
      }),
    );

  withJson(ruleset.command('list').description('list rule sets, the default one first'))
    .requiredOption('--org <id>', 'organisation id')
    .action((opts: JsonOption & { org: string }) =>
      withServices(ctx, opts, async ({ services, out }) => {
        await requireOrg(services, opts.org);
        out.list(
          (await services.rules.list(opts.org)).map(ruleSetView),
          [{ key: 'rule_set_id' }, { key: 'name' }, { key: 'is_default', header: 'default' }, { key: 'presence' }, { key: 'history' }, { key: 'publish' }, { key: 'subscribe' }, { key: 'deny_publish', header: 'deny publish' }, { key: 'deny_subscribe', header: 'deny subscribe' }],
        );
      }),
    );

  withJson(ruleset.command('delete').description('delete a rule set no integration uses'))
    .requiredOption('--org <id>', 'organisation id')
    .requiredOption('--name <name|id>', 'rule set name or id')
    .action((opts: JsonOption & { org: string; name: string }) =>
      withServices(ctx, opts, async ({ services, out }) => {
        await requireOrg(services, opts.org);
        const rs = await services.rules.get(opts.org, opts.name);
        await services.rules.delete(opts.org, rs.id);
        out.record({ deleted: true, rule_set_id: rs.id, name: rs.name });
      }),
    );
}
