// `signalgate provider add|list|remove` — identity providers whose JWTs /v2/tokens/exchange accepts.
import { Option, type Command } from 'commander';
import { PROVIDER_TYPES, providerView, type ProviderType } from '@signalgate/shared';
import { withServices, type CliContext } from '../context.js';
import { requireOrg, withJson, type JsonOption } from './common.js';

interface AddOptions extends JsonOption {
  org: string; type: ProviderType; issuer: string; name?: string; jwksUrl?: string; secret?: string;
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
    .option('--secret <secret>', 'shared HMAC secret instead of a JWKS (Supabase legacy JWT secret)')
    .option('--audience <aud>', 'required aud (supabase: authenticated; firebase: the project id)')
    .option('--user-id-claim <claim>', 'claim holding the user id (default: sub)')
    .option('--email-claim <claim>', 'claim holding the email (default: email)')
    .action((opts: AddOptions) =>
      withServices(ctx, opts, ({ services, out }) => {
        requireOrg(services, opts.org);
        out.record(providerView(services.providers.add(opts.org, {
          name: opts.name, type: opts.type, issuer: opts.issuer, jwksUrl: opts.jwksUrl, secret: opts.secret,
          audience: opts.audience, userIdClaim: opts.userIdClaim, emailClaim: opts.emailClaim,
        })));
      }),
    );

  withJson(provider.command('list').description('list identity providers (never secrets)'))
    .requiredOption('--org <id>', 'organisation id (org_… or UUID)')
    .action((opts: JsonOption & { org: string }) =>
      withServices(ctx, opts, ({ services, out }) => {
        requireOrg(services, opts.org);
        out.list(
          services.providers.list(opts.org).map(providerView),
          [{ key: 'provider' }, { key: 'type' }, { key: 'issuer' }, { key: 'verification' }, { key: 'audience' }],
          'no identity providers',
        );
      }),
    );

  withJson(provider.command('remove').description('stop trusting an identity provider'))
    .requiredOption('--org <id>', 'organisation id (org_… or UUID)')
    .requiredOption('--name <name>', 'the provider name (see list)')
    .action((opts: JsonOption & { org: string; name: string }) =>
      withServices(ctx, opts, ({ services, out }) => {
        requireOrg(services, opts.org);
        services.providers.remove(opts.org, opts.name);
        out.record({ deleted: true, provider: opts.name });
      }),
    );
}
