// `signalgate integration create|list|delete` — integration ids that bind minted tokens to a rule set.
import type { Command } from 'commander';
import type { Services } from '@signalgate/shared';
import { withServices, type CliContext } from '../context.js';
import { integrationView } from '../views.js';
import { requireOrg, withJson, type JsonOption } from './common.js';

const ruleSetName = (services: Services, orgId: string, ruleSetId: string) => services.store.ruleSets.get(orgId, ruleSetId)?.name ?? null;

export function registerIntegration(program: Command, ctx: CliContext): void {
  const integration = program.command('integration').description('integrations: tokens minted with integration_id get its rule set');

  withJson(integration.command('create').description('bind an integration id to a rule set'))
    .requiredOption('--org <id>', 'organisation id')
    .requiredOption('--id <integration_id>', 'the integration_id requests will send')
    .requiredOption('--ruleset <name|id>', 'rule set the tokens are limited to')
    .option('--description <text>', 'free text')
    .action((opts: JsonOption & { org: string; id: string; ruleset: string; description?: string }) =>
      withServices(ctx, opts, ({ services, out }) => {
        requireOrg(services, opts.org);
        const created = services.integrations.create(opts.org, opts.id, opts.ruleset, opts.description ?? null);
        out.record(integrationView(created, ruleSetName(services, opts.org, created.ruleSetId)));
      }),
    );

  withJson(integration.command('list').description('list integrations'))
    .requiredOption('--org <id>', 'organisation id')
    .action((opts: JsonOption & { org: string }) =>
      withServices(ctx, opts, ({ services, out }) => {
        requireOrg(services, opts.org);
        out.list(
          services.integrations.list(opts.org).map((i) => integrationView(i, ruleSetName(services, opts.org, i.ruleSetId))),
          [{ key: 'integration_id' }, { key: 'rule_set_name', header: 'rule set' }, { key: 'created_at' }, { key: 'description' }],
          'no integrations',
        );
      }),
    );

  withJson(integration.command('delete').description('delete an integration (its tokens then grant nothing)'))
    .requiredOption('--org <id>', 'organisation id')
    .requiredOption('--id <integration_id>', 'integration id')
    .action((opts: JsonOption & { org: string; id: string }) =>
      withServices(ctx, opts, ({ services, out }) => {
        requireOrg(services, opts.org);
        services.integrations.delete(opts.org, opts.id);
        out.record({ deleted: true, integration_id: opts.id });
      }),
    );
}
