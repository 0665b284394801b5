export * from './tokenBucket.js';
export * from './failureBudget.js';
