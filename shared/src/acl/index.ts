export * from './topics.js';
export * from './placeholders.js';
export * from './rights.js';
export * from './namespace.js';
export * from './ruleFilter.js';
export * from './explain.js';
export * from './reserved.js';
export * from './sharedFilter.js';
