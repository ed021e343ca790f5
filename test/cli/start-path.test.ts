// How `cloister run` starts (docs/architecture.md, "Start-up"): the enclave Worker is started before
// the CLI has read its options, and a run without host files answers its first host calls on the
// launcher's own thread, handing the ring to the host-call server thread at the first call it does
// not take (stdin here) or once its console output passes what a pipe holds. What the program sees
// and writes must not change across the hand-over.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir, watFile } from '../helpers/cli.ts';

/** Writes "before\n", copies stdin to stdout until end of file, writes "after\n", exits 3. */
const beforeCatAfter = `(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 512) "before\\nafter\\n")
  (func $say (param $at i32) (param $len i32)
    (i32.store (i32.const 32) (local.get $at))
    (i32.store (i32.const 36) (local.get $len))
    (drop (call $write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40))))
  (func (export "_start")
    (call $say (i32.const 512) (i32.const 7))
    (loop $more
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 4096))
      (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (i32.gt_u (i32.load (i32.const 8)) (i32.const 0)) (then
        (call $say (i32.const 1024) (i32.load (i32.const 8)))
        (br $more))))
    (call $say (i32.const 519) (i32.const 6))
    (call $exit (i32.const 3))))`;

/** Writes 200 blocks of 1000 bytes (block i filled with the byte 32 + i % 90), then exits 0. */
const manyBlocks = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $next
      (memory.fill (i32.const 1024) (i32.add (i32.const 32) (i32.rem_u (local.get $i) (i32.const 90))) (i32.const 1000))
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 1000))
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 200))))))`;

describe('cloister run start-up path', () => {
  it('keeps output in order when the ring passes to the server thread at the first stdin read', async () => {
    const path = await watFile('before-cat-after', beforeCatAfter);
    const r = await runCli(['run', '--trace-host', path], { input: 'middle\n' });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'before\nmiddle\nafter\n');
    // Both servers count into the same trace: every call is there once.
    assert.match(r.stderr, /console_write\s+3\s+20\s/);
    assert.match(r.stderr, /exit\s+1\s/);
  });

  it('passes the ring on once console output outgrows a pipe, and loses or reorders none of it', async () => {
    const path = await watFile('many-blocks', manyBlocks);
    const r = await runCli(['run', path]);
    assert.equal(r.code, 0, r.stderr);
    const expected = Buffer.concat(Array.from({ length: 200 }, (_, i) => Buffer.alloc(1000, 32 + (i % 90))));
    assert.ok(r.stdoutBytes.equals(expected), `stdout: ${r.stdoutBytes.length} bytes, as written`);
  });

  it('without a built enclave bundle, still says so in one line (nothing could be started early)', async () => {
    const root = tempDir('cloister-unbuilt-');
    cpSync('dist', join(root, 'dist'), { recursive: true });
    cpSync('package.json', join(root, 'package.json'));
    symlinkSync(resolve('node_modules'), join(root, 'node_modules'));
    rmSync(join(root, 'dist', 'enclave.js'));
    const path = await watFile('before-cat-after', beforeCatAfter);
    const r = spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), 'run', path], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^cloister: error: .*enclave\.js is missing: run `npm run build`$/m);
    assert.doesNotMatch(r.stderr, /\n {4}at /, 'no stack trace');
  });

  it('runs with a memory limit other than the one the enclave Worker was started with', async () => {
    const path = await watFile('before-cat-after', beforeCatAfter);
    const r = await runCli(['run', '--memory', '64M', path], { input: 'x' });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'before\nxafter\n');
  });
});
