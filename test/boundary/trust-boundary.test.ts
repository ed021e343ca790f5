// The trust boundary of DESIGN.md, checked on the import graph: enclave code reaches the outside
// only through src/interface, and host code never reaches into the enclave.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const importPattern =
  /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every module specifier a file imports, with relative ones resolved to repository paths. */
export function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(importPattern)].map((m) => {
    const spec = m[1] ?? m[2] ?? m[3];
    return spec.startsWith('.') ? relative(root, resolve(dirname(file), spec)) : spec;
  });
}

/** Node built-ins the enclave may use: none does I/O. worker_threads is the enclave's entry only. */
const enclaveBuiltins = new Set(['node:crypto', 'crypto', 'node:buffer', 'buffer']);
// node:v8 only to compile threaded programs without Liftoff (a V8 bug, see compileThreaded).
const enclaveEntryBuiltins = new Set(['node:worker_threads', 'node:v8']);
/** The entry checks the bundle it starts thread workers from against MRENCLAVE: a pure hash. */
const enclaveEntryModules = new Set(['src/tee/measurement.ts']);
/** The JavaScript enclave's entry also compiles the app with node:vm (without a dynamic-import callback). */
const jsEnclaveEntryBuiltins = new Set(['node:worker_threads', 'node:vm']);

const nodeIoNames = [
  'fs',
  'fs/promises',
  'net',
  'os',
  'child_process',
  'http',
  'https',
  'dgram',
  'tls',
  'process',
  'worker_threads',
];

function enclaveViolation(file: string, spec: string): string | undefined {
  if (spec.startsWith('src/')) {
    if (file === 'src/enclave/main.ts' && enclaveEntryModules.has(spec)) return undefined;
    return spec.startsWith('src/enclave/') || spec.startsWith('src/interface/')
      ? undefined
      : `${file} imports ${spec}`;
  }
  const builtin = spec.startsWith('node:') || nodeIoNames.includes(spec);
  if (!builtin || enclaveBuiltins.has(spec)) return undefined;
  if (file === 'src/enclave/main.ts' && enclaveEntryBuiltins.has(spec)) return undefined;
  if (file === 'src/enclave/js/main.ts' && jsEnclaveEntryBuiltins.has(spec)) return undefined;
  return `${file} imports the Node module ${spec}`;
}

function violations(area: string, check: (file: string, spec: string) => string | undefined): string[] {
  return files(join(root, area)).flatMap((file) =>
    importsOf(file)
      .map((spec) => check(relative(root, file), spec))
      .filter((v): v is string => v !== undefined),
  );
}

describe('trust boundary', () => {
  it('src/enclave imports only enclave code, the interface, pure packages and no Node I/O', () => {
    assert.deepEqual(violations('src/enclave', enclaveViolation), []);
  });

  it('src/host and src/interface never import enclave code', () => {
    const found = [
      ...violations('src/host', (f, s) => (s.startsWith('src/enclave/') ? `${f} imports ${s}` : undefined)),
      ...violations('src/interface', (f, s) =>
        s.startsWith('src/') && !s.startsWith('src/interface/') ? `${f} imports ${s}` : undefined,
      ),
      ...violations('src/interface', (f, s) => (s.startsWith('node:') ? `${f} imports ${s}` : undefined)),
    ];
    assert.deepEqual(found, []);
  });

  it('the checker sees a crossing when there is one', () => {
    const probe = join(root, 'src/enclave/ring/channel.ts');
    assert.ok(
      importsOf(probe).includes('src/interface/ring.ts'),
      'relative imports resolve to repository paths',
    );
  });
});
