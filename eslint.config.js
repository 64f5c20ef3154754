// ESLint for the TypeScript sources (`npm run lint`, run by .ci/run).
// typescript-eslint's recommended and type-checked rules, plus an import-cycle
// check across the project (the architecture test checks the layering).
// Every rule turned off or down says why.
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'src/generated/', 'bench/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      // no-cycle follows imports by parsing each target: it needs the TypeScript parser for .ts files.
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-self-import': 'error',
      // Apollo Server's plugin hooks, graphql-jit's and DataLoader's callbacks
      // are async by contract; a hook with nothing to await is still written
      // `async` there, as Apollo's own plugins are.
      '@typescript-eslint/require-await': 'off',
      // Passing on a rejection as it came (a store's error of unknown type) is not inventing one.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // `_`-prefixed names are the usual way to say "deliberately unused".
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // GraphQL answers and JSON bodies are untyped (`data: any`) in tests and
    // benchmarks, which navigate them: the assertions check their shape, and a
    // benchmark prints what it read.
    files: ['test/**/*.ts', 'scripts/bench-*.ts', 'scripts/queue-board-screenshot.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
