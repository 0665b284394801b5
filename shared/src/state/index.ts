export * from './schema.js';
export * from './parse.js';
export * from './apply.js';
export * from './export.js';
export * from './appEnv.js';
