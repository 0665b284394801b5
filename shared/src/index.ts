export * from './config.js';
export * from './errors.js';
export * from './log.js';
export * from './acl/index.js';
export * from './limits/index.js';
export * from './credentials/index.js';
export * from './store/index.js';
export * from './services/index.js';
