// `cloister run` compiles its run bundle (dist/cli-run.cjs) with a V8 code cache recorded by the
// build during a run (src/cli/run-bundle.ts). The cache may speed up a start, never change what
// runs: V8 (Node 20) would take a cache made for another source of the same length and run the
// functions it compiled then. These tests attack that: a run bundle changed after the build, its
// cache left in place, must run as changed; a damaged or missing cache must change nothing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Script } from 'node:vm';
import { describe, it } from 'node:test';
import { decodeCodeCache, encodeCodeCache } from '../../src/host/enclave-code-cache.ts';
import { RUN_BUNDLE_CACHE_FILE, RUN_BUNDLE_FILE, wrapRunBundle } from '../../src/cli/run-bundle.ts';
import { tempDir, watFile } from '../helpers/cli.ts';

const wrapped = wrapRunBundle(readFileSync(join('dist', RUN_BUNDLE_FILE), 'utf8'));
const cacheFile = readFileSync(join('dist', RUN_BUNDLE_CACHE_FILE));

const HELLO = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "hello, world\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 13))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;

/** A copy of the built package whose dist/ a test may change. */
function packageCopy(): string {
  const root = tempDir('cloister-run-bundle-');
  cpSync('dist', join(root, 'dist'), { recursive: true });
  cpSync('package.json', join(root, 'package.json'));
  symlinkSync(resolve('node_modules'), join(root, 'node_modules'));
  return root;
}

function runHello(root: string, hello: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [join(root, 'dist', 'cli.cjs'), 'run', hello], {
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('run bundle code cache', () => {
  it('is recorded by the build during a run, for the bundle in dist/, and V8 takes it', () => {
    const payload = decodeCodeCache(wrapped, cacheFile);
    assert.ok(payload, 'made for this very run bundle, intact');
    const script = new Script(wrapped, { filename: resolve('dist', RUN_BUNDLE_FILE), cachedData: payload });
    assert.equal(script.cachedDataRejected, false);
    // Compiled only, the bundle yields its top level; after a run, also the functions the run called.
    const topLevelOnly = new Script(wrapped).createCachedData();
    assert.ok(payload.length > topLevelOnly.length * 1.5, `${payload.length} vs ${topLevelOnly.length}`);
  });

  it('is refused for a run bundle changed after the build, even of the same length', async () => {
    const root = packageCopy();
    const bundlePath = join(root, 'dist', RUN_BUNDLE_FILE);
    const original = readFileSync(bundlePath, 'utf8');
    const warning = 'NO hardware isolation';
    assert.ok(original.includes(warning));
    const changed = original.replace(warning, 'NO HARDWARE ISOLATION');
    assert.equal(changed.length, original.length);
    const payload = decodeCodeCache(wrapped, cacheFile)!;
    assert.equal(
      new Script(wrapRunBundle(changed), { cachedData: payload }).cachedDataRejected,
      false,
      'V8 alone takes it: the digest is the check that counts',
    );
    writeFileSync(bundlePath, changed);
    const r = runHello(root, await watFile('hello', HELLO));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hello, world\n');
    assert.match(r.stderr, /NO HARDWARE ISOLATION/, 'the changed source ran, not the cached one');
  });

  it('runs a program the same with a good, a damaged, a foreign or no cache', async () => {
    const root = packageCopy();
    const hello = await watFile('hello', HELLO);
    const cachePath = join(root, 'dist', RUN_BUNDLE_CACHE_FILE);
    const payload = decodeCodeCache(wrapped, cacheFile)!;
    const flipped = Buffer.from(cacheFile);
    flipped[64 + 5000] ^= 0x01;
    const caches: [string, Uint8Array | undefined][] = [
      ['good', cacheFile],
      ['payload byte flipped', flipped],
      [
        'V8 header flipped, digests recomputed',
        encodeCodeCache(wrapped, Buffer.from([~payload[0], ...payload.subarray(1)])),
      ],
      ['the enclave bundle cache', readFileSync(join('dist', 'enclave.js.v8cache'))],
      ['none', undefined],
    ];
    for (const [name, cache] of caches) {
      if (cache) writeFileSync(cachePath, cache);
      else rmSync(cachePath);
      const r = runHello(root, hello);
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      assert.equal(r.stdout, 'hello, world\n', name);
    }
  });

  it('says in one line when the run bundle is missing', async () => {
    const root = packageCopy();
    rmSync(join(root, 'dist', RUN_BUNDLE_FILE));
    const r = runHello(root, await watFile('hello', HELLO));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^cloister: error: .*cli-run\.cjs is missing: run `npm run build`\n$/);
  });
});
