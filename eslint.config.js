// ESLint 9 flat config: typescript-eslint's strict, type-aware rules over every TypeScript file
// the tsconfig covers. Import cycles are checked by dependency-cruiser (.dependency-cruiser.cjs),
// not here: import-x's no-cycle skips type-only imports, and issue 11 wants those counted too.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', '.bench-out/**', 'tmp/**'] },

  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: {
        // scripts/*.mjs are outside tsconfig.json (no allowJs): typed from their JSDoc by a default project.
        projectService: { allowDefaultProject: ['scripts/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Options, not relaxations: each keeps the rule on and states the house style.
      // A leading underscore marks a parameter or binding that must exist but is not read.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // `T[]` for simple element types, `Array<{ … }>` / `Array<[a, b]>` for complex ones.
      '@typescript-eslint/array-type': ['error', { default: 'array-simple' }],
      // node:test's test/describe return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],

      // Relaxed, with the reason:
      // numbers format predictably in template literals; objects, nullish and unions stay errors.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `(x) => resolve(x)` passing a void result through an arrow's shorthand is plain callback code.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // `catch (err) { return Promise.reject(err) }` forwards a caught value as it came, Error or not.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    files: ['src/**'],
    rules: {
      // Relaxed, with the reason: noUncheckedIndexedAccess types every `a[i]` as `T | undefined`, and
      // the codec, the stores, the write batcher, key layout and the script emulations index arrays
      // in loops whose bounds they have just checked. A guard per element there is a branch on the
      // hot path that can never be taken, so `a[i]!` (an element access) is allowed in src/. Every
      // other `!` is still an error, through no-restricted-syntax below: narrow those properly.
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-restricted-syntax': [
        'error',
        {
          selector: 'TSNonNullExpression:not([expression.type="MemberExpression"][expression.computed=true])',
          message: 'Non-null assertion on something other than an element access (`a[i]!`): narrow the value instead.',
        },
      ],
      // Relaxed, with the reason: the encoder unwinds a refused value with its own `Refusal` (codec/
      // refusal.ts), a plain object that collects the path on the way up and never leaves encode():
      // it becomes a ValueError at the top. An Error would capture a stack trace per refusal.
      '@typescript-eslint/only-throw-error': ['error', { allow: [{ from: 'file', name: 'Refusal', path: 'src/codec/refusal.ts' }] }],
    },
  },
  {
    // Relaxed, with the reason: the embedded store's methods are `async` with nothing to await on
    // purpose. The Store contract promises that every failure (a TypeError for a bad argument, a
    // WrongTypeError, a closed store) arrives as a rejection, never as a synchronous throw, and
    // `async` is what turns the throw of a synchronous body into one.
    files: ['src/stores/memory/store.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    // The config files at the root are data: a TypeScript program each (~2 s of CPU apiece) buys nothing.
    files: ['*.js', '*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // The dashboard page's script runs in a browser, unbuilt: plain JavaScript, checked for mistakes
    // by the recommended rules (typed rules need a TypeScript program it is not part of).
    files: ['assets/**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.browser, sourceType: 'script' },
  },
  {
    files: ['test/**', 'bench/**', 'examples/**'],
    rules: {
      // Tests, benches and examples index data they built themselves (noUncheckedIndexedAccess makes that
      // `T | undefined`); a wrong guess fails the run, which is the check.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Async loaders, generators and adapter methods stand in for the async functions the API takes.
      '@typescript-eslint/require-await': 'off',
      // No-op callbacks (keep-alive timers, swallowed close errors, stub setup) are the point.
      '@typescript-eslint/no-empty-function': 'off',
      // Empty classes are fixtures: instances of a user class that the codec and digests must refuse.
      '@typescript-eslint/no-extraneous-class': ['error', { allowEmpty: true }],
    },
  },
);
