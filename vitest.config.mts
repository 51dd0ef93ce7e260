import { defineConfig } from 'vitest/config';

// Two projects: pure unit tests, and everything that talks to the real local stack
// (started once by test/support/global-setup.ts and shared through `inject`).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'stack',
          include: [
            'test/integration/**/*.test.ts',
            'test/api/**/*.test.ts',
            'test/workflow/**/*.test.ts',
            'test/replay/**/*.test.ts',
            'test/e2e/**/*.test.ts',
            // Starts its own OpenSearch node.
            'test/opensearch/**/*.test.ts',
          ],
          environment: 'node',
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          // Two cores: one file at a time keeps worker, stack and test from starving each other.
          fileParallelism: false,
          pool: 'forks',
        },
      },
    ],
  },
});
