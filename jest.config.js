// ESM TypeScript through @swc/jest; type-checking is `tsc -b`, run before jest by `npm test`.
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'es6' } }] },
  moduleNameMapper: {
    '^@signalgate/(shared|token-api|broker|cli|client)$': '<rootDir>/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testMatch: ['<rootDir>/{shared,token-api,broker,cli,client}/test/**/*.test.ts', '<rootDir>/tests/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  testTimeout: 20000,
  // Suites mostly wait on sockets and timers, so a third worker keeps both cores busy.
  maxWorkers: 3,
};
