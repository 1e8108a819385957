import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Pulumi's runtime keeps global state (mocks, config, the root stack): every test file
    // runs in its own forked process so that one file's mocks never leak into another's.
    pool: "forks",
    isolate: true,
    // A throwaway PostgreSQL for the suites that run against both stores.
    globalSetup: ["test/postgres.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
