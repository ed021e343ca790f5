/**
 * The wasi-testsuite programs (C and AssemblyScript) run in-process against the enclave's WASI
 * layer, with each test's root copied to a temporary host directory and preopened as '/'.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostDirFs } from '../../src/enclave/vfs/index.ts';
import { NodeHostDir } from './helpers/node-hostdir.ts';
import { runWasm } from './helpers/run.ts';

const SUITE = '/work/shared/wasi-testsuite';

interface Spec {
  args?: string[];
  env?: Record<string, string>;
  root?: string;
  exit_code?: number;
  stdout?: string;
  stderr?: string;
}

/** Makes a copied tree writable (the shared suite is read-only) and drops `*.cleanup` leftovers. */
function prepare(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name.endsWith('.cleanup')) {
      rmSync(path, { recursive: true, force: true });
      continue;
    }
    const isDir = statSync(path).isDirectory();
    chmodSync(path, isDir ? 0o755 : 0o644);
    if (isDir) prepare(path);
  }
}

for (const lang of ['c', 'assemblyscript']) {
  const dir = join(SUITE, lang);
  for (const wasm of readdirSync(dir).filter((f) => f.endsWith('.wasm'))) {
    const name = wasm.slice(0, -5);
    test(`wasi-testsuite ${lang}/${name}`, () => {
      const specPath = join(dir, `${name}.json`);
      const spec: Spec = existsSync(specPath) ? JSON.parse(readFileSync(specPath, 'utf8')) : {};
      const preopens = [];
      let tmp: string | null = null;
      if (spec.root) {
        tmp = mkdtempSync(join(tmpdir(), 'cloister-wasi-'));
        cpSync(join(dir, spec.root), tmp, { recursive: true });
        chmodSync(tmp, 0o755);
        prepare(tmp);
        preopens.push({ guestPath: '/', fs: createHostDirFs(new NodeHostDir([tmp]), 0) });
      }
      try {
        const result = runWasm(join(dir, wasm), {
          args: [wasm, ...(spec.args ?? [])],
          env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
          preopens,
        });
        assert.equal(result.exitCode, spec.exit_code ?? 0, `exit code; stderr: ${result.stderr}`);
        if (spec.stdout !== undefined) assert.equal(result.stdout, spec.stdout);
        if (spec.stderr !== undefined) assert.equal(result.stderr, spec.stderr);
      } finally {
        if (tmp) rmSync(tmp, { recursive: true, force: true });
      }
    });
  }
}
