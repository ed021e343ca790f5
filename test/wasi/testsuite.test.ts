/**
 * The wasi-testsuite programs (C and AssemblyScript) run in-process against the enclave's WASI
 * layer, each twice: with the test's root copied to a temporary host directory (hostdir) and
 * loaded into a tmpfs, preopened as '/'.
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
import { createTmpfs } from '../../src/enclave/vfs/index.ts';
import type { FileSystem, Inode } from '../../src/enclave/vfs/index.ts';
import { CachedHostDirCalls } from '../../src/enclave/vfs/hostdir-cache.ts';
import { realHostDirFs } from './helpers/host-server.ts';
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

/** Copies a host directory tree into `dir` of an in-enclave file system. */
function load(hostDir: string, dir: Inode): void {
  for (const name of readdirSync(hostDir)) {
    const path = join(hostDir, name);
    if (name.endsWith('.cleanup')) continue;
    if (statSync(path).isDirectory()) load(path, dir.mkdir(name));
    else dir.createFile(name, true).open({ write: true, truncate: true }).write(0, readFileSync(path));
  }
}

/** The test's root as the guest's '/': a host directory (copied to a temporary one) or a tmpfs. */
function rootFs(kind: 'hostdir' | 'tmpfs', root: string): { fs: FileSystem; cleanup(): void } {
  if (kind === 'tmpfs') {
    const fs = createTmpfs();
    load(root, fs.root());
    return { fs, cleanup: () => {} };
  }
  const tmp = mkdtempSync(join(tmpdir(), 'cloister-wasi-'));
  cpSync(root, tmp, { recursive: true });
  chmodSync(tmp, 0o755);
  prepare(tmp);
  // Cached as `cloister run` does.
  const host = realHostDirFs(tmp, (calls) => new CachedHostDirCalls(calls));
  return {
    fs: host.fs,
    cleanup: () => {
      host.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

const runs = (['hostdir', 'tmpfs'] as const).flatMap((kind) =>
  ['c', 'assemblyscript'].map((lang) => ({ kind, lang })),
);

for (const { kind, lang } of runs) {
  const dir = join(SUITE, lang);
  for (const wasm of readdirSync(dir).filter((f) => f.endsWith('.wasm'))) {
    const name = wasm.slice(0, -5);
    test(`wasi-testsuite ${lang}/${name} (${kind})`, () => {
      const specPath = join(dir, `${name}.json`);
      const spec: Spec = existsSync(specPath) ? JSON.parse(readFileSync(specPath, 'utf8')) : {};
      const root = spec.root ? rootFs(kind, join(dir, spec.root)) : null;
      const preopens = root ? [{ guestPath: '/', fs: root.fs }] : [];
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
        root?.cleanup();
      }
    });
  }
}
