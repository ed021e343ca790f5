// A closed pipe stops the program: `cloister run yes.wasm | head -n 3` ends, and a copier whose
// reader went away stops reading its input, as `yes | head` and `cat | head` do natively.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, describe, it } from 'node:test';
import { cliPath, watFile } from '../helpers/cli.ts';

const made: string[] = [];
after(() => made.forEach((p) => rmSync(dirname(p), { recursive: true, force: true })));

/** Writes "y\n" until fd_write fails, then exits with its errno. */
const YES = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "y\\n")
  (func (export "_start") (local $e i32)
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 2))
    (loop $again
      (local.set $e (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $again (i32.eqz (local.get $e))))
    (call $exit (local.get $e))))`;

/** Copies stdin to stdout in 64 KiB reads until end of input or a failed write (exit with its errno). */
const CAT = `(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (func (export "_start") (local $e i32)
    (loop $again
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 65536))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (i32.eqz (i32.load (i32.const 8))) (then (call $exit (i32.const 0))))
      (i32.store (i32.const 4) (i32.load (i32.const 8)))
      (local.set $e (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $again (i32.eqz (local.get $e))))
    (call $exit (local.get $e))))`;

const EPIPE = 64;

/** Runs `cloister run ARGS`, keeps the first `keep` bytes of stdout, then closes the pipe. */
function runThenClose(
  args: string[],
  keep: number,
  input?: Buffer,
): Promise<{ code: number | null; kept: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, 'run', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    let kept = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      kept += d.toString('latin1');
      if (kept.length >= keep) child.stdout.destroy();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => {});
    if (input) child.stdin.end(input);
    else child.stdin.end();
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, kept: kept.slice(0, keep), stderr });
    });
  });
}

describe('a closed pipe', () => {
  it('ends `yes | head -n 3`: fd_write returns EPIPE to the program', async () => {
    const yes = await watFile('yes', YES);
    made.push(yes);
    const r = await runThenClose([yes], 6);
    assert.equal(r.kept, 'y\ny\ny\n');
    assert.equal(r.code, EPIPE, r.stderr);
  });

  it('stops a copier early: it does not read all of a 50 MB input after its reader left', async () => {
    const cat = await watFile('cat', CAT);
    made.push(cat);
    const input = Buffer.alloc(50 << 20, 0x61);
    const r = await runThenClose(['--trace-host', cat], 10, input);
    assert.equal(r.code, EPIPE, r.stderr);
    assert.equal(r.kept, 'a'.repeat(10));
    const row = /stdin_read\s+(\d+)\s+(\d+)\s+(\d+)/.exec(r.stderr);
    assert.ok(row, r.stderr);
    const bytesRead = Math.max(Number(row[2]), Number(row[3]));
    assert.ok(bytesRead < 8 << 20, `read ${bytesRead} bytes of stdin after its reader left`);
  });
});
