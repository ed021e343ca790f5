import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeIoModules = [
  'fs',
  'fs/promises',
  'net',
  'dgram',
  'child_process',
  'http',
  'https',
  'http2',
  'os',
  'tls',
  'dns',
  'cluster',
  'process',
  'readline',
  'inspector',
  'v8',
  'vm',
];
const ioPatterns = nodeIoModules.flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { console: 'readonly', process: 'readonly', WebAssembly: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The trust boundary (DESIGN.md): enclave code reaches the outside only through src/interface.
    files: ['src/enclave/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ioPatterns.map((name) => ({ name, message: 'src/enclave must not use Node I/O modules' })),
          patterns: [
            {
              group: ['**/host/**', '**/cli/**', '**/image/**'],
              message: 'src/enclave must not import untrusted code',
            },
          ],
        },
      ],
    },
  },
  {
    // The JavaScript enclave's entry compiles the app with node:vm's compileFunction (sandbox.ts).
    files: ['src/enclave/js/main.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ioPatterns
            .filter((name) => name !== 'vm' && name !== 'node:vm')
            .map((name) => ({ name, message: 'src/enclave must not use Node I/O modules' })),
          patterns: [
            {
              group: ['**/host/**', '**/cli/**', '**/image/**'],
              message: 'src/enclave must not import untrusted code',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/host/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/enclave/**'], message: 'src/host must not import enclave code' }] },
      ],
    },
  },
);
