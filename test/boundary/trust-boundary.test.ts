// The trust boundary of DESIGN.md, checked on the import graph: enclave code reaches the outside
// only through src/interface, host code never reaches into the enclave, and every top-level folder
// of src/ imports only the folders the layer table (scripts/layers.mjs) allows it.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXCEPTIONS, LAYERS, layerViolation } from '../../scripts/layers.mjs';

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

/** Node built-ins the enclave (and the code it shares with the host) may use: none does I/O. worker_threads is the enclave's entry only. */
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
    return ['src/enclave/', 'src/common/', 'src/interface/'].some((p) => spec.startsWith(p))
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

  it('src/common (run on both sides) imports only itself, the interface, and no Node I/O', () => {
    assert.deepEqual(
      violations('src/common', (file, spec) =>
        spec.startsWith('src/') && !spec.startsWith('src/common/') && !spec.startsWith('src/interface/')
          ? `${file} imports ${spec}`
          : enclaveViolation(file, spec),
      ),
      [],
    );
  });

  it('every top-level folder of src/ is in the layer table and imports only what it allows', () => {
    const folders = readdirSync(join(root, 'src')).filter((n) =>
      statSync(join(root, 'src', n)).isDirectory(),
    );
    assert.deepEqual(
      folders.filter((f) => !(f in LAYERS)),
      [],
      'folders missing from scripts/layers.mjs',
    );
    const found = folders.flatMap((f) =>
      violations(`src/${f}`, (file, spec) =>
        spec.startsWith('src/') ? layerViolation(file, spec) : undefined,
      ),
    );
    assert.deepEqual(found, []);
  });

  it('the layer table keeps the trust boundary: host-side folders never import the enclave', () => {
    for (const folder of ['host', 'image', 'interface', 'common', 'kbs', 'attestation', 'tee'])
      assert.ok(
        !LAYERS[folder as keyof typeof LAYERS].includes('enclave'),
        `${folder} may import src/enclave`,
      );
    assert.deepEqual(LAYERS.interface, []);
    assert.deepEqual(LAYERS.common, ['interface']);
    for (const e of EXCEPTIONS) assert.ok(!e.to.startsWith('src/host/'), `${e.from} may import ${e.to}`);
  });

  it("the layer check rejects a crossing and allows the table's edges", () => {
    assert.match(layerViolation('src/enclave/x.ts', 'src/host/y.ts') ?? '', /may not import src\/host/);
    assert.match(layerViolation('src/image/x.ts', 'src/enclave/y.ts') ?? '', /may not import src\/enclave/);
    assert.match(layerViolation('src/common/x.ts', 'src/enclave/y.ts') ?? '', /may not import/);
    assert.match(layerViolation('src/newfolder/x.ts', 'src/host/y.ts') ?? '', /not in the layer table/);
    assert.equal(layerViolation('src/image/x.ts', 'src/common/y.ts'), undefined);
    assert.equal(layerViolation('src/enclave/a/x.ts', 'src/enclave/b/y.ts'), undefined);
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
