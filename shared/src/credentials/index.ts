export * from './secrets.js';
export * from './hashing.js';
