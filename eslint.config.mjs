// typescript-eslint's type-checked rules. Prettier owns the layout; the linter judges the code.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const tests = ['test/**/*.ts', '**/*.spec.ts', 'src/store-kit/store-conformance.ts'];

export default tseslint.config(
  { ignores: ['dist/', 'sample-app/dist/', 'coverage/', '.doc-examples/', '.pack-test/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A leading underscore marks a parameter an override point must accept but may not use.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // `async` marks a method whose contract is a promise (store methods): a throw becomes a rejection.
      '@typescript-eslint/require-await': 'off',
      // Passing on an error we caught, whatever it is, is the point of those rejections.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    files: tests,
    rules: {
      // Tests read JSON bodies and driver results as `any`, and await every store call alike,
      // whether the store answers with a promise or with the value.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/await-thenable': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Tests feed the code the inputs the rules below keep out of it: objects turned into strings,
      // prototype methods called on a session, self-assignments of req.session, huge numbers,
      // sparse arrays, errors that are not Errors.
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      'no-prototype-builtins': 'off',
      'no-self-assign': 'off',
      'no-loss-of-precision': 'off',
      'no-sparse-arrays': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { ...globals.node },
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
);
