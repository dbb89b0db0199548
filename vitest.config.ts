import { defineConfig } from 'vitest/config';

// `unit` runs on a fresh clone; `hostile` (test/hostile, test/faults: adversarial archives,
// property tests, kill -9 and I/O faults) needs nothing outside the repo either, but is slower, so
// it is its own script (IMGPACK_STRESS=1, npm run test:stress, raises its iteration counts);
// `conformance` and `interop` need ../shared (and the real tools); `dist` (the packed tarball
// installed offline, the executable) and `bundle` (the e2e suite run against dist/imgpack.cjs)
// test what ships. .ci/run runs each as a separate npm script. `unit` (npm test) runs with a
// private $TMPDIR and fails when anything is left in it (test/helpers/tmp-guard.ts).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/e2e/**/*.test.ts'], globalSetup: ['test/helpers/tmp-guard.ts'], testTimeout: 30_000 } },
      { test: { name: 'hostile', include: ['test/hostile/**/*.test.ts', 'test/faults/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 } },
      { test: { name: 'conformance', include: ['test/conformance/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 } },
      { test: { name: 'interop', include: ['test/interop/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 600_000, fileParallelism: false } },
      { test: { name: 'dist', include: ['test/dist/**/*.test.ts'], testTimeout: 300_000, hookTimeout: 300_000, fileParallelism: false } },
      { test: { name: 'bundle', include: ['test/e2e/**/*.test.ts'], globalSetup: ['test/dist/bundle-setup.ts'], testTimeout: 60_000 } },
    ],
  },
});
