export * from './tokenBucket.js';
export * from './failureBudget.js';
export * from './concurrencyGate.js';
export * from './connectionsPerAddress.js';
