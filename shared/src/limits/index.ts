export * from './tokenBucket.js';
export * from './failureBudget.js';
export * from './concurrencyGate.js';
