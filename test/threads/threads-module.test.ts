/**
 * The import-section reader of loader/threads-module.ts against real, truncated, flipped and
 * hostile bytes: it returns the memories a module imports, or throws a one-line ModuleError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import wabtFactory from 'wabt';
import { ModuleError } from '../../src/enclave/loader/wasm-module.ts';
import { importedMemories, isThreaded } from '../../src/enclave/loader/threads-module.ts';

async function wasm(text: string): Promise<Uint8Array> {
  const wabt = await wabtFactory();
  const module = wabt.parseWat('t.wat', text, { threads: true });
  try {
    return new Uint8Array(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
/** A module of just an import section with `body`. */
const withImports = (body: number[]): Uint8Array => new Uint8Array([...HEADER, 0x02, body.length, ...body]);

test('reads the imported memory and its limits, and tells threaded modules apart', async () => {
  const threaded = await wasm(`(module
    (import "wasi" "thread-spawn" (func (param i32) (result i32)))
    (import "env" "memory" (memory 2 300 shared)))`);
  assert.deepEqual(importedMemories(threaded), [
    { module: 'env', name: 'memory', initial: 2, maximum: 300, shared: true },
  ]);
  assert.equal(isThreaded(threaded), true);
  const plain = await wasm(
    `(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))) (memory 1))`,
  );
  assert.deepEqual(importedMemories(plain), []);
  assert.equal(isThreaded(plain), false);
  const sharedOnly = await wasm(`(module (import "a" "b" (memory 1 1 shared)))`);
  assert.equal(isThreaded(sharedOnly), true);
});

test('truncated, overlong and hostile import sections are one-line ModuleErrors', async () => {
  const good = await wasm(`(module (import "env" "memory" (memory 1 2 shared)))`);
  for (let cut = 9; cut < good.length; cut++) {
    assert.throws(() => importedMemories(good.subarray(0, cut)), ModuleError, `cut at ${cut}`);
  }
  const hostile: [string, number[]][] = [
    ['a name longer than the section', [1, 0x7f, 0x61]],
    ['an unknown import kind', [1, 1, 0x61, 1, 0x62, 9, 0]],
    ['a LEB128 over 32 bits', [1, 0xff, 0xff, 0xff, 0xff, 0x7f]],
    ['a 64-bit memory', [1, 1, 0x61, 1, 0x62, 2, 4, 1]],
    ['bytes left after the entries', [0, 0]],
    ['a name that is not UTF-8', [1, 1, 0xff, 1, 0x62, 2, 0, 1]],
  ];
  for (const [what, body] of hostile) {
    assert.throws(() => importedMemories(withImports(body)), ModuleError, what);
  }
});

test('flipped bytes give a result or a ModuleError, never another failure', async () => {
  const good = await wasm(`(module
    (import "wasi" "thread-spawn" (func (param i32) (result i32)))
    (import "env" "memory" (memory 1 2 shared))
    (func (export "_start")))`);
  for (let i = 0; i < 2000; i++) {
    const bytes = good.slice();
    const [at, value] = randomBytes(2);
    bytes[8 + (at % (bytes.length - 8))] = value;
    try {
      importedMemories(bytes);
    } catch (error) {
      assert.ok(error instanceof ModuleError, String(error));
    }
  }
});
