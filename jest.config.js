// ESM TypeScript through @swc/jest; type-checking is `tsc -b`, run before jest by `npm test`.
// Two projects: every suite on the embedded SQLite store, and the API, broker and cluster suites
// again on PostgreSQL (tests/support/database.ts gives each data dir a fresh database). One suite
// alone on one store: `--selectProjects sqlite` (or postgres).
const base = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'es6' } }] },
  moduleNameMapper: {
    '^@signalgate/(shared|token-api|broker|cli|client)$': '<rootDir>/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
};

export default {
  projects: [
    {
      ...base,
      displayName: 'sqlite',
      testMatch: ['<rootDir>/{shared,token-api,broker,cli,client}/test/**/*.test.ts', '<rootDir>/tests/**/*.test.ts'],
    },
    {
      ...base,
      displayName: 'postgres',
      testMatch: ['<rootDir>/{token-api,broker}/test/**/*.test.ts', '<rootDir>/tests/cluster/**/*.test.ts', '<rootDir>/tests/faults/crash-safety.test.ts'],
      testEnvironment: '<rootDir>/tests/support/postgresEnvironment.mjs',
    },
  ],
  testTimeout: 20000,
  // Suites mostly wait on sockets and timers, so a third worker keeps both cores busy.
  maxWorkers: 3,
};
