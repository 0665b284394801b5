// `signalgate integration create|list|delete` — integration ids that bind minted tokens to a rule set.
import type { Command } from 'commander';
import type { Services } from '@signalgate/shared';
import { withServices, type CliContext } from '../context.js';
import { integrationView } from '../views.js';
import { requireOrg, withJson, type JsonOption } from './common.js';

const ruleSetName = async (services: Services, orgId: string, ruleSetId: string) => (await services.store.ruleSets.get(orgId, ruleSetId))?.name ?? null;

export function registerIntegration(program: Command, ctx: CliContext): void {
  const integration = program.command('integration').description('integrations: tokens minted with integration_id get its rule set');

  withJson(integration.command('create').description('bind an integration id to a rule set'))
    .requiredOption('--org <id>', 'organisation id')
    .requiredOption('--id <integration_id>', 'the integration_id requests will send')
    .requiredOption('--ruleset <name|id>', 'rule set the tokens are limited to')
    .option('--description <text>', 'free text')
    .action((opts: JsonOption & { org: string; id: string; ruleset: string; description?: string }) =>
      withServices(ctx, opts, async ({ services, out }) => {
        await requireOrg(services, opts.org);
        const created = await services.integrations.create(opts.org, opts.id, opts.ruleset, opts.description ?? null);
        out.record(integrationView(created, await ruleSetName(services, opts.org, created.ruleSetId)));
      }),
    );

  withJson(integration.command('list').description('list integrations'))
    .requiredOption('--org <id>', 'organisation id')
    .action((opts: JsonOption & { org: string }) =>
      withServices(ctx, opts, async ({ services, out }) => {
        await requireOrg(services, opts.org);
        // The names from one read of the org's rule sets, not one read per integration.
        const [integrations, ruleSets] = await Promise.all([services.integrations.list(opts.org), services.rules.list(opts.org)]);
        const nameOf = new Map(ruleSets.map((rs) => [rs.id, rs.name]));
        out.list(
          integrations.map((i) => integrationView(i, nameOf.get(i.ruleSetId) ?? null)),
          [{ key: 'integration_id' }, { key: 'rule_set_name', header: 'rule set' }, { key: 'created_at' }, { key: 'description' }],
          'no integrations',
        );
      }),
    );

  withJson(integration.command('delete').description('delete an integration (its tokens then grant nothing)'))
    .requiredOption('--org <id>', 'organisation id')
    .requiredOption('--id <integration_id>', 'integration id')
    .action((opts: JsonOption & { org: string; id: string }) =>
      withServices(ctx, opts, async ({ services, out }) => {
        await requireOrg(services, opts.org);
        await services.integrations.delete(opts.org, opts.id);
        out.record({ deleted: true, integration_id: opts.id });
      }),
    );
}
