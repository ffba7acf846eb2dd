import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  oxc: {
    decorator: { legacy: true, emitDecoratorMetadata: true },
  },
  resolve: {
    // The sample app imports the package by name; in tests those names point at the sources (one copy of
    // every class, so `nest-sessions/auth` finds the SessionManager of `nest-sessions`).
    alias: [
      { find: /^nest-sessions$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
      { find: /^nest-sessions\/auth$/, replacement: fileURLToPath(new URL('./src/auth/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['src/**/*.spec.ts', 'test/**/*.spec.ts', 'sample-app/**/*.spec.ts'],
    sequence: { hooks: 'stack' },
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
