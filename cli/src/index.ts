export { runCli, type CliIo } from './run.js';
export { buildProgram } from './program.js';
