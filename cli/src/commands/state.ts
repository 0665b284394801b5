// `signalgate apply -f <file>` — make the data dir say what a declared-state file says (idempotent;
// a running broker follows rule changes). `signalgate export` — the current state in that format,
// without secrets.
import fs from 'node:fs';
import type { Command } from 'commander';
import { applyState, exportState, stateToYaml } from '@signalgate/shared';
import { withServices, type CliContext } from '../context.js';
import { environmentWith, readStateFile } from '../stateFiles.js';
import { withJson, type JsonOption } from './common.js';

export function registerState(program: Command, ctx: CliContext): void {
  withJson(program.command('apply').description('apply a declared-state file (YAML or JSON) to the data dir: organisations, keys, rules, integrations, providers, limits'))
    .requiredOption('-f, --file <file>', 'the state file')
    .option('--env-file <file>', 'read ${VAR} references from this dotenv file too (the environment wins)')
    .action((opts: JsonOption & { file: string; envFile?: string }) => {
      const state = readStateFile(opts.file, environmentWith(opts.envFile));
      return withServices(ctx, opts, async ({ services, out }) => {
        const report = await applyState(services, state);
        if (out.json) return out.line(JSON.stringify(report));
        for (const line of report.changes) out.line(line);
        out.line(report.changes.length === 0 ? 'no changes' : `${report.changes.length} change(s) applied`);
      });
    });

  program.command('export').description('write the current state (without secrets) as a state file')
    .option('--org <id>', 'only this organisation (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('-o, --output <file>', 'write here instead of standard output')
    .action((opts: { org?: string[]; output?: string }) =>
      withServices(ctx, {}, async ({ services }) => {
        const yaml = stateToYaml(await exportState(services, opts.org));
        if (opts.output === undefined) ctx.stdout.write(yaml);
        else fs.writeFileSync(opts.output, yaml, { mode: 0o600 });
      }),
    );
}
