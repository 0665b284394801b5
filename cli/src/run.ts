// Runs one command line and turns every failure into a message and an exit code: 0 ok, 1 the
// command failed (SignalGateError, bad configuration), 2 usage error. Never a stack trace.
import { CommanderError } from 'commander';
import { isSignalGateError } from '@signalgate/shared';
import type { CliContext } from './context.js';
import { buildProgram } from './program.js';

export type CliIo = CliContext;

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its message (and help where asked for).
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
      return EXIT_USAGE;
    }
    if (isSignalGateError(err)) {
      io.stderr.write(`signalgate: ${err.message} (${err.code})\n`);
      return EXIT_FAILED;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`signalgate: ${message}\n`);
    return EXIT_FAILED;
  }
}
