export * from './secrets.js';
export * from './hashing.js';
export * from './users.js';
export * from './slowChecks.js';
