// Lint rules for the whole monorepo. The one architectural rule lives here too:
// packages/core/src is sans-I/O, so it may not import any node:* module (DESIGN.md "Parts and layering").
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', 'data/**', 'dist/**', 'bench/.cache/**', 'bench/.vendor/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', setTimeout: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Enums are not erasable syntax; use a const object.' },
        { selector: 'TSParameterProperty', message: 'Parameter properties are not erasable syntax.' },
      ],
    },
  },
  {
    files: ['packages/core/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['node:*'], message: 'core is sans-I/O: inject the capability instead.' }] },
      ],
    },
  },
  {
    files: ['packages/core/src/**/*.ts', 'packages/client/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'runs in the browser too: inject the capability instead.' },
            {
              group: ['@sealpost/server', '@sealpost/cli', '@sealpost/witness'],
              message: 'imports only point down.',
            },
          ],
        },
      ],
    },
  },
);
