// Only the rules that catch a forgotten await: with an asynchronous store, a Promise used as a
// value (`if (store.orgs.get(id))`, `.map(store…)`, an unawaited write) type-checks and is wrong.
import tseslint from 'typescript-eslint';

const rules = {
  '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: true }],
  '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
  '@typescript-eslint/await-thenable': 'error',
};
const plugins = { '@typescript-eslint': tseslint.plugin };

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**'] },
  {
    files: ['{shared,token-api,broker,cli}/src/**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins,
    rules,
  },
  {
    // The suites are type-checked by tsconfig.tests.json (no package tsconfig covers them).
    files: ['{shared,token-api,broker,cli,client}/test/**/*.ts', 'tests/**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { project: './tsconfig.tests.json', tsconfigRootDir: import.meta.dirname } },
    plugins,
    rules,
  },
);
