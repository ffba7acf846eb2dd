/**
 * The package's layers, checked by `npm run lint:deps` (part of `npm test`). Each layer imports
 * only the layers before it:
 *
 *   core      store contract, errors, IDs, cookies, sealing: imports nothing of the package
 *   stores    the stores, built on core alone (a custom store needs nothing more)
 *   session   the engine and SessionModule; composes the built-in stores (default store, store URLs)
 *   auth, terminus, store-kit   extensions on top of the engine, beside each other
 *
 * Type-only imports count: a cycle through types is still a cycle for a reader.
 */
const layer = (name) => `^src/${name}/`;

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules of this package must not import each other in a circle.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-imports-nothing-above',
      severity: 'error',
      comment: 'core is the base layer: it must not import the stores, the engine or the extensions.',
      from: { path: layer('core') },
      to: { path: '^src/(?!core/)' },
    },
    {
      name: 'stores-build-on-core-only',
      severity: 'error',
      comment: 'Stores depend on core only, so a store author needs nothing of the engine.',
      from: { path: layer('stores') },
      to: { path: '^src/(session|auth|terminus|store-kit)/|^src/index\\.ts$' },
    },
    {
      name: 'engine-below-extensions',
      severity: 'error',
      comment: 'The engine must not know its extensions (auth, terminus, store-kit).',
      from: { path: layer('session') },
      to: { path: '^src/(auth|terminus|store-kit)/' },
    },
    {
      name: 'extensions-beside-each-other',
      severity: 'error',
      comment: 'auth, terminus and store-kit do not import each other, nor the stores directly.',
      from: { path: '^src/(auth|terminus|store-kit)/' },
      to: { path: '^src/(stores)/', pathNot: '^src/stores/index\\.ts$' },
    },
    {
      name: 'auth-alone',
      severity: 'error',
      from: { path: layer('auth') },
      to: { path: '^src/(terminus|store-kit)/' },
    },
    {
      name: 'terminus-alone',
      severity: 'error',
      from: { path: layer('terminus') },
      to: { path: '^src/(auth|store-kit)/' },
    },
    {
      name: 'no-entry-point-imports',
      severity: 'error',
      comment: 'Inside the package, import the module itself, not an entry point (src/index.ts, */index.ts).',
      from: { path: '^src/', pathNot: '(^src/index\\.ts$|/index\\.ts$|\\.spec\\.ts$)' },
      to: { path: '^src/index\\.ts$' },
    },
    {
      name: 'src-not-to-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|sample-app|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
