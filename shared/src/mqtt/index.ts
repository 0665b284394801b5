export * from './reasonCodes.js';
export * from './properties.js';
