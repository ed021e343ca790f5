// The enclave holds a run of back-to-back writes to a `--dir` file and sends it as one call
// (vfs/hostdir-cache.ts): it must reach the host before anything the program does after it that
// the outside can see. Here a program writes a file in two writes, prints a line and waits on
// stdin: by the time the line is out, the host file holds both writes; and a write the host fails
// after the program was told it succeeded fails the run rather than passing for success.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliPath, runCli, tempDir, watFile } from '../helpers/cli.ts';

const RUN_LIMIT_MS = 20_000;

const program = `(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  ;; iovecs: 0 "hello", 8 "written\\n", 32 one byte of stdin
  (data (i32.const 0) "\\40\\00\\00\\00\\05\\00\\00\\00\\50\\00\\00\\00\\08\\00\\00\\00")
  (data (i32.const 32) "\\80\\00\\00\\00\\01\\00\\00\\00")
  (data (i32.const 64) "hello")
  (data (i32.const 80) "written\\n")
  (data (i32.const 96) "out")
  (func (export "_start")
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 96) (i32.const 3) (i32.const 1)
          (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 16))
      (then (call $exit (i32.const 2))))
    (if (call $write (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 24))
      (then (call $exit (i32.const 3))))
    (if (call $write (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 24))
      (then (call $exit (i32.const 3))))
    (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 24)))
    (drop (call $read (i32.const 0) (i32.const 32) (i32.const 1) (i32.const 24)))
    (call $exit (i32.const 0))))`;

describe('writes held by the enclave for a --dir file', () => {
  it('reach the host before the program prints its next line', async () => {
    const area = tempDir();
    const wasm = await watFile('write-then-print', program);
    const child = spawn(process.execPath, [cliPath, 'run', '--dir', `${area}::/data`, wasm]);
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS);
    let stdout = '';
    let stderr = '';
    let seenOnHost: string | null = null;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (seenOnHost === null && stdout.includes('written\n')) {
        seenOnHost = readFileSync(join(area, 'out'), 'utf8');
        child.stdin.end('x');
      }
    });
    child.stdin.on('error', () => {});
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    assert.equal(code, 0, stderr);
    assert.equal(seenOnHost, 'hellohello');
  });

  it('fail the run when the host fails them after the program was told they succeeded', async () => {
    const area = tempDir();
    const wasm = await watFile('write-then-print', program);
    const r = await runCli(['run', '--dir', `${area}::/data`, wasm], {
      input: 'x',
      env: { CLOISTER_HOST_FAULT: 'file_pwrite:errno' },
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /a write to a host directory failed after the program was told it had succeeded/);
  });
});
