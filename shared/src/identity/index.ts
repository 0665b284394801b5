export * from './presets.js';
export * from './claims.js';
export * from './refusal.js';
export * from './verifier.js';
