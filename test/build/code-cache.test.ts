// The enclave bundle's V8 code cache (src/host/enclave-code-cache.ts) may speed up a start, never
// change what runs. V8 (Node 20) checks only the cache's header: it takes data whose payload bytes
// were flipped, and data made for another source of the same length. So the launcher's digests are
// what keeps a stale or damaged cache out; these tests attack them, and run the enclave with
// damaged caches beside the bundle.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Script } from 'node:vm';
import { describe, it } from 'node:test';
import { decodeCodeCache, encodeCodeCache } from '../../src/host/enclave-code-cache.ts';
import { ENCLAVE_SCRIPT_NAME } from '../../src/tee/worker-enclave.ts';
import { tempDir, watFile } from '../helpers/cli.ts';

const bundle = readFileSync('dist/enclave.js', 'utf8');
const file = readFileSync('dist/enclave.js.v8cache');

const flipped = (bytes: Uint8Array, at: number): Buffer => {
  const copy = Buffer.from(bytes);
  copy[at] ^= 0x01;
  return copy;
};

describe('enclave code cache', () => {
  it('is written by the build for the bundle in dist/, and V8 takes it', () => {
    const payload = decodeCodeCache(bundle, file);
    assert.ok(payload && payload.length > 10_000, 'a real cache, made for this very bundle');
    const script = new Script(bundle, { filename: ENCLAVE_SCRIPT_NAME, cachedData: payload });
    assert.equal(script.cachedDataRejected, false);
  });

  it('is refused when its bytes, its digests or its length were changed', () => {
    const payloadStart = 64;
    for (const at of [0, 31, 32, 63, payloadStart, payloadStart + 1000, file.length - 1]) {
      assert.equal(decodeCodeCache(bundle, flipped(file, at)), undefined, `byte ${at} flipped`);
    }
    assert.equal(decodeCodeCache(bundle, file.subarray(0, file.length - 1)), undefined, 'cut short');
    assert.equal(decodeCodeCache(bundle, file.subarray(0, 64)), undefined, 'digests only');
    assert.equal(decodeCodeCache(bundle, new Uint8Array(0)), undefined, 'empty');
    assert.equal(decodeCodeCache(bundle, Buffer.concat([file, Buffer.alloc(1)])), undefined, 'grown');
  });

  it('is refused for any other bundle, also one of the same length (which V8 would take)', () => {
    const sameLength = bundle.replace('enclave', 'ENCLAVE');
    assert.equal(sameLength.length, bundle.length);
    assert.notEqual(sameLength, bundle);
    const payload = decodeCodeCache(bundle, file)!;
    assert.equal(
      new Script(sameLength, { filename: ENCLAVE_SCRIPT_NAME, cachedData: payload }).cachedDataRejected,
      false,
      'V8 alone takes it: the digest is the check that counts',
    );
    assert.equal(decodeCodeCache(sameLength, file), undefined);
    assert.equal(decodeCodeCache(`${bundle}\n`, file), undefined);
    const other = encodeCodeCache(sameLength, payload);
    assert.equal(decodeCodeCache(bundle, other), undefined, 'a cache file recorded for another bundle');
  });

  it('runs a program the same with a good, a damaged, a foreign or no cache', async () => {
    // A copy of the built package, so the cache beside its bundle can be damaged.
    const root = tempDir('cloister-cache-');
    cpSync('dist', join(root, 'dist'), { recursive: true });
    cpSync('package.json', join(root, 'package.json'));
    symlinkSync(resolve('node_modules'), join(root, 'node_modules'));
    const hello = await watFile(
      'hello',
      `(module
        (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 64) "hello, world\\n")
        (func (export "_start")
          (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 13))
          (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`,
    );
    const cachePath = join(root, 'dist', 'enclave.js.v8cache');
    const payload = decodeCodeCache(bundle, file)!;
    const caches: [string, Uint8Array | undefined][] = [
      ['good', file],
      ['payload byte flipped', flipped(file, 64 + 5000)],
      ['V8 header flipped, digests recomputed', encodeCodeCache(bundle, flipped(payload, 0))],
      ['made for another bundle', Buffer.concat([file.subarray(0, 64), Buffer.from('not v8 data')])],
      ['not a cache (the bundle itself)', readFileSync('dist/enclave.js')],
      ['none', undefined],
    ];
    for (const [name, cache] of caches) {
      if (cache) writeFileSync(cachePath, cache);
      else rmSync(cachePath);
      const r = spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), 'run', hello], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      assert.equal(r.stdout, 'hello, world\n', name);
    }
  });
});
