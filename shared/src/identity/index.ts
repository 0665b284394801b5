export * from './presets.js';
export * from './claims.js';
export * from './refusal.js';
export * from './verifier.js';
export { MAX_PROVIDER_DOCUMENT_BYTES } from './documentFetch.js';
