export * from './tokenBucket.js';
