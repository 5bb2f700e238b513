// Lint for the TypeScript control plane: npm test's lint tier (npm run lint alone).
// typescript-eslint's recommended rules without type information: the type-aware set builds
// a second TypeScript program, which doubled the tier's CPU time on a 2-core machine, and tsc
// already checks the types in the build.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test-artifacts/', '.finetune/', 'trainer/', 'examples/', 'docker/', 'bin/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // Store keys, secret refs and report text are checked for control characters on purpose.
      'no-control-regex': 'off',
      // A leading underscore marks a parameter kept for its position or a field dropped by destructuring.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // `cond ? delete a : (a = b)` sets or clears an env var in one line.
      '@typescript-eslint/no-unused-expressions': ['error', { allowTernary: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read parsed JSON (webhook bodies, API requests) loosely.
      '@typescript-eslint/no-explicit-any': 'off',
      // Expected CLI output is written with its column padding, as printed.
      'no-regex-spaces': 'off',
    },
  },
);
