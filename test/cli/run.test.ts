// `cloister run` as a user runs it: arguments, environment, mounts, stdin, exit status, tracing.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir, watFile } from '../helpers/cli.ts';

/** A program that prints its arguments, one per line, with fd_write (wasi-libc-free). */
const echoArgs = `(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32) (local $n i32) (local $p i32) (local $len i32)
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (local.set $n (i32.load (i32.const 0)))
    (drop (call $get (i32.const 1024) (i32.const 4096)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $p (i32.load (i32.add (i32.const 1024) (i32.mul (local.get $i) (i32.const 4)))))
      (local.set $len (i32.const 0))
      (block $end (loop $scan
        (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $len)))))
        (local.set $len (i32.add (local.get $len) (i32.const 1)))
        (br $scan)))
      (i32.store8 (i32.add (local.get $p) (local.get $len)) (i32.const 10))
      (i32.store (i32.const 16) (local.get $p))
      (i32.store (i32.const 20) (i32.add (local.get $len) (i32.const 1)))
      (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))))`;

/** Copies stdin to stdout until end of file, then exits 7. */
const cat = `(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $more
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 4096))
      (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (i32.gt_u (i32.load (i32.const 8)) (i32.const 0)) (then
        (i32.store (i32.const 4) (i32.load (i32.const 8)))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
        (br $more))))
    (call $exit (i32.const 7))))`;

describe('cloister run', () => {
  it('passes everything after the program to it, options included, and drops a leading --', async () => {
    const path = await watFile('echo', echoArgs);
    const r = await runCli(['run', path, '--', '--verbose', 'two words', '--dir', 'x']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'echo.wasm\n--verbose\ntwo words\n--dir\nx\n');
    const plain = await runCli(['run', path, 'a', '--', 'b']);
    assert.equal(plain.stdout, 'echo.wasm\na\n--\nb\n');
  });

  it('streams stdin through and exits with the program status', async () => {
    const path = await watFile('cat', cat);
    const input = Buffer.alloc(200_000);
    for (let i = 0; i < input.length; i++) input[i] = (i * 7) & 0xff;
    const r = await runCli(['run', path], { input });
    assert.equal(r.code, 7, r.stderr);
    assert.ok(r.stdoutBytes.equals(input), 'stdout is stdin, byte for byte');
  });

  it('runs the SQLite shell on scripted SQL from stdin on a tmpfs', async () => {
    const sql = 'create table t(x); insert into t values (1),(2),(3); select sum(x) from t;\n.tables\n';
    const r = await runCli(['run', '--tmpfs', '/data', 'examples/sqlite3.wasm', '/data/db.sqlite'], {
      input: sql,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '6\nt\n');
  });

  it('gives the program its environment and a host directory', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'greeting.txt'), 'hello from the host\n');
    const sql =
      "select readfile('/data/sub/greeting.txt'); select writefile('/data/out.txt', 'written inside');\n";
    const r = await runCli(
      ['run', '--dir', `${dir}::/data`, '--env', 'GREETING=hi', 'examples/sqlite3.wasm'],
      { input: sql },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from the host\n\n14\n');
    assert.equal(readFileSync(join(dir, 'out.txt'), 'utf8'), 'written inside');
  });

  it('prints the host calls by class with --trace-host', async () => {
    const path = await watFile('echo2', echoArgs);
    const r = await runCli(['run', '--trace-host', path, 'x']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /workload-independent\s+exit\s+1\s/);
    assert.match(r.stderr, /workload-dependent\s+console_write\s+2\s/);
    assert.match(r.stderr, /\d+ host calls, \d+\.\d ms in the host's handlers/);
    assert.match(r.stderr, /bytes out\s+host ms/);
  });

  it('says plainly that sim gives no hardware isolation', async () => {
    const path = await watFile('quiet', `(module (memory (export "memory") 1) (func (export "_start")))`);
    const r = await runCli(['run', path]);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /sim backend.*NO hardware isolation/);
    const help = await runCli(['--help']);
    assert.match(help.stdout, /no hardware isolation/);
  });
});
