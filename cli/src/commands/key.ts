// `signalgate key create|list|revoke|rotate` — secret API keys (sk_) of an organisation.
import type { Command } from 'commander';
import { DEFAULT_ROTATION_OVERLAP_SECONDS } from '@signalgate/shared';
import { withServices, type CliContext } from '../context.js';
import { nonNegativeInt } from '../options.js';
import { isoTime } from '../output.js';
import { keyView } from '../views.js';
import { requireOrg, withJson, type JsonOption } from './common.js';

interface KeyOptions extends JsonOption {
  org: string;
  key: string;
  keepTokens?: boolean;
}

const SHOWN_ONCE = ['', 'The secret key is shown once: store it now (it is kept only as a hash).'];

export function registerKey(program: Command, ctx: CliContext): void {
  const key = program.command('key').description("an organisation's secret API keys (sk_)");

  withJson(key.command('create').description('issue a new secret key'))
    .requiredOption('--org <id>', 'organisation id')
    .option('--name <name>', 'label to tell keys apart')
    .action((opts: JsonOption & { org: string; name?: string }) =>
      withServices(ctx, opts, async ({ services, out, now }) => {
        const issued = await services.keys.create(opts.org, opts.name ?? null);
        out.record({ ...keyView(issued.key, now), secret_key: issued.secretKey }, SHOWN_ONCE);
      }),
    );

  withJson(key.command('list').description('list keys (prefix, status, created, last used)'))
    .requiredOption('--org <id>', 'organisation id')
    .action((opts: JsonOption & { org: string }) =>
      withServices(ctx, opts, async ({ services, out, now }) => {
        await requireOrg(services, opts.org);
        out.list(
          (await services.keys.list(opts.org)).map((k) => keyView(k, now)),
          [{ key: 'key_id' }, { key: 'prefix' }, { key: 'status' }, { key: 'name' }, { key: 'created_at' }, { key: 'last_used_at' }, { key: 'expires_at' }],
          'no keys',
        );
      }),
    );

  withJson(key.command('revoke').description('revoke a key at once, and the live tokens it minted'))
    .requiredOption('--org <id>', 'organisation id')
    .requiredOption('--key <key_id>', 'key id (see key list)')
    .option('--keep-tokens', 'let the tokens the key minted live to their expiry')
    .action((opts: KeyOptions) =>
      withServices(ctx, opts, async ({ services, out, now }) => {
        const revoked = await services.keys.revoke(opts.org, opts.key);
        const tokens = opts.keepTokens ? [] : await services.tokens.revokeMintedBy(opts.org, opts.key);
        out.record({ ...keyView(revoked, now), revoked_token_ids: tokens });
      }),
    );

  withJson(key.command('rotate').description('issue a successor key; the old one keeps working for the overlap'))
    .requiredOption('--org <id>', 'organisation id')
    .requiredOption('--key <key_id>', 'key id to replace')
    .option('--overlap-seconds <seconds>', 'how long the old key stays valid (0 = stops now)', nonNegativeInt, DEFAULT_ROTATION_OVERLAP_SECONDS)
    .action((opts: KeyOptions & { overlapSeconds: number }) =>
      withServices(ctx, opts, async ({ services, out, now }) => {
        const rotated = await services.keys.rotate(opts.org, opts.key, opts.overlapSeconds);
        out.record(
          {
            ...keyView(rotated.key, now),
            secret_key: rotated.secretKey,
            previous_key_id: rotated.previous.id,
            previous_key_valid_until: isoTime(rotated.previous.expiresAt),
          },
          SHOWN_ONCE,
        );
      }),
    );
}
