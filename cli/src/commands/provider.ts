// `signalgate provider add|list|remove` — identity providers whose JWTs /v2/tokens/exchange accepts.
import { Option, type Command } from 'commander';
import fs from 'node:fs';
import { PROVIDER_TYPES, SignalGateError, providerView, type ProviderType } from '@signalgate/shared';
import { withServices, type CliContext } from '../context.js';
import { requireOrg, withJson, type JsonOption } from './common.js';

interface AddOptions extends JsonOption {
  org: string; type: ProviderType; issuer: string; name?: string; jwksUrl?: string; secret?: string; secretFile?: string;
  audience?: string; userIdClaim?: string; emailClaim?: string;
}

export function registerProvider(program: Command, ctx: CliContext): void {
  const provider = program.command('provider').description("identity providers: their users' JWTs are exchanged for MQTT credentials");

  withJson(provider.command('add').description('trust an identity provider (Supabase, Firebase, Auth0, Clerk or any OIDC issuer)'))
    .requiredOption('--org <id>', 'organisation id (org_… or UUID)')
    .addOption(new Option('--type <type>', 'the kind of provider (fills its defaults)').choices(PROVIDER_TYPES).makeOptionMandatory())
    .requiredOption('--issuer <url>', "the tokens' exact iss")
    .option('--name <name>', 'answered as `provider` (default: the type)')
    .option('--jwks-url <url>', "the provider's JWKS (default: the type's preset; oidc: discovery)")
    .option('--secret <secret>', 'shared HMAC secret instead of a JWKS (Supabase legacy JWT secret); visible in the process list')
    .option('--secret-file <path>', 'read the shared secret from this file (trailing newline removed), keeping it out of the process list and shell history')
    .option('--audience <aud>', 'required aud; needed for oidc and auth0 ("*" accepts any, on purpose); preset for supabase and firebase')
    .option('--user-id-claim <claim>', 'claim holding the user id (default: sub)')
    .option('--email-claim <claim>', 'claim holding the email (default: email)')
    .action((opts: AddOptions) =>
      withServices(ctx, opts, async ({ services, out }) => {
        if (opts.secret !== undefined && opts.secretFile !== undefined) throw new SignalGateError('invalid_request', 'give --secret or --secret-file, not both');
        const secret = opts.secretFile !== undefined ? fs.readFileSync(opts.secretFile, 'utf8').replace(/\r?\n$/, '') : opts.secret;
        await requireOrg(services, opts.org);
        out.record(providerView(await services.providers.add(opts.org, {
          name: opts.name, type: opts.type, issuer: opts.issuer, jwksUrl: opts.jwksUrl, secret,
          audience: opts.audience, userIdClaim: opts.userIdClaim, emailClaim: opts.emailClaim,
        })));
      }),
    );

  withJson(provider.command('list').description('list identity providers (never secrets)'))
    .requiredOption('--org <id>', 'organisation id (org_… or UUID)')
    .action((opts: JsonOption & { org: string }) =>
      withServices(ctx, opts, async ({ services, out }) => {
        await requireOrg(services, opts.org);
        out.list(
          (await services.providers.list(opts.org)).map(providerView),
          [{ key: 'provider' }, { key: 'type' }, { key: 'issuer' }, { key: 'verification' }, { key: 'audience' }],
          'no identity providers',
        );
      }),
    );

  withJson(provider.command('remove').description('stop trusting an identity provider'))
    .requiredOption('--org <id>', 'organisation id (org_… or UUID)')
    .requiredOption('--name <name>', 'the provider name (see list)')
    .action((opts: JsonOption & { org: string; name: string }) =>
      withServices(ctx, opts, async ({ services, out }) => {
        await requireOrg(services, opts.org);
        await services.providers.remove(opts.org, opts.name);
        out.record({ deleted: true, provider: opts.name });
      }),
    );
}
