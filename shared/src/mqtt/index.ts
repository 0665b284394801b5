export * from './reasonCodes.js';
