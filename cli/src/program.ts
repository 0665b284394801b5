// The command tree: `signalgate <noun> <verb>` with the stable names of SPEC "Configuration and CLI".
import { Command } from 'commander';
import type { CliContext } from './context.js';
import { registerOrg } from './commands/org.js';
import { registerKey } from './commands/key.js';
import { registerRuleset } from './commands/ruleset.js';
import { registerIntegration } from './commands/integration.js';
import { registerProvider } from './commands/provider.js';
import { registerToken } from './commands/token.js';
import { registerSession } from './commands/session.js';
import { registerAudit, registerPurge } from './commands/audit.js';
import { registerStart } from './commands/start.js';
import { registerState } from './commands/state.js';
import { registerStore } from './commands/store.js';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('signalgate')
    .description('SignalGate admin CLI: drives the admin surface directly on the data dir (SIGNALGATE_DATA_DIR)')
    .configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) })
    // Set before the subcommands are added so that they inherit it: usage errors come back to
    // runCli as exceptions instead of ending the process.
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');
  registerOrg(program, ctx);
  registerKey(program, ctx);
  registerRuleset(program, ctx);
  registerIntegration(program, ctx);
  registerProvider(program, ctx);
  registerToken(program, ctx);
  registerSession(program, ctx);
  registerAudit(program, ctx);
  registerPurge(program, ctx);
  registerState(program, ctx);
  registerStore(program, ctx);
  registerStart(program, ctx);
  return program;
}
