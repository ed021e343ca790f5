import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { layerViolation } from './scripts/layers.mjs';

const repoRoot = dirname(fileURLToPath(import.meta.url));

/** Reports relative imports that cross a line of the layer table (scripts/layers.mjs). */
const layering = {
  rules: {
    imports: {
      meta: { type: 'problem', schema: [] },
      create(context) {
        const file = relative(repoRoot, context.filename);
        if (!file.startsWith('src/')) return {};
        const check = (node) => {
          const spec = node.source?.value;
          if (typeof spec !== 'string' || !spec.startsWith('.')) return;
          const why = layerViolation(file, relative(repoRoot, resolve(dirname(context.filename), spec)));
          if (why) context.report({ node: node.source, message: why });
        };
        return {
          ImportDeclaration: check,
          ExportNamedDeclaration: check,
          ExportAllDeclaration: check,
          ImportExpression: check,
        };
      },
    },
  },
};

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
/** `import('node:fs')` and the like: no-restricted-imports sees only static imports. */
const dynamicIoImport = {
  selector: `ImportExpression[source.value=/^(node:)?(${nodeIoModules.map((m) => m.replace('/', '\\/')).join('|')})$/]`,
  message: 'src/enclave must not use Node I/O modules',
};

export default tseslint.config(
  // Programs the partitioner analyses are written as their authors would (CommonJS, untyped).
  { ignores: ['dist/', 'node_modules/', 'test/fixtures/', 'test/partition/fixtures/plan-snapshot/'] },
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
    files: ['src/**/*.ts'],
    plugins: { layering },
    rules: { 'layering/imports': 'error' },
  },
  {
    // The trust boundary (DESIGN.md): enclave code reaches the outside only through src/interface,
    // and code shared with the host (src/common) does no I/O either.
    files: ['src/enclave/**/*.ts', 'src/common/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', dynamicIoImport],
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
);
