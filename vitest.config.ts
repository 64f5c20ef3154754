import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // One graphql-js for everyone, the build Node itself loads (`main`, CommonJS): Vite would
    // otherwise give the tests' own imports the ESM build (`module`) while Apollo Server,
    // @apollo/subgraph and graphql-jit use the CommonJS one, and graphql-js refuses types
    // and errors from "another module or realm". In production there is only one.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Each file creates its own database and Redis prefix, so files run in
    // parallel; tests inside a file share them and run in order.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
