// Bad input to `cloister run`: each gives one line naming the cause and a non-zero status.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliPath, runCli, tempDir, watFile, withoutSimWarning } from '../helpers/cli.ts';

function assertOneLineError(stderr: string, pattern: RegExp): void {
  const lines = withoutSimWarning(stderr).trim().split('\n');
  assert.equal(lines.length, 1, `one line of error, got:\n${stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace without --verbose');
}

describe('cloister run with bad input', () => {
  it('refuses a file that is not WebAssembly', async () => {
    const path = join(tempDir(), 'notes.txt');
    writeFileSync(path, 'hello, I am text\n');
    const r = await runCli(['run', path]);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /^cloister: error: not a WebAssembly module/);
  });

  it('refuses a truncated module', async () => {
    const path = join(tempDir(), 'cut.wasm');
    writeFileSync(path, Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 0x7f]));
    const r = await runCli(['run', path]);
    assert.equal(r.code, 1);
    assertOneLineError(
      r.stderr,
      /^cloister: error: (not a valid WebAssembly module|truncated WebAssembly module)/,
    );
  });

  it('names an import it does not provide', async () => {
    const path = await watFile(
      'imports',
      `(module (import "env" "launch_missiles" (func)) (memory (export "memory") 1) (func (export "_start")))`,
    );
    const r = await runCli(['run', path]);
    assert.equal(r.code, 1);
    assertOneLineError(
      r.stderr,
      /imports env\.launch_missiles \(function\), which Cloister does not provide/,
    );
  });

  it('explains that a reactor cannot run', async () => {
    const path = await watFile(
      'reactor',
      `(module (memory (export "memory") 1) (func (export "_initialize")))`,
    );
    const r = await runCli(['run', path]);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /WASI reactor \(it exports _initialize, not _start\)/);
  });

  it('reports a missing file', async () => {
    const r = await runCli(['run', '/nonexistent/app.wasm']);
    assert.equal(r.code, 2);
    assertOneLineError(r.stderr, /^cloister: error: \/nonexistent\/app\.wasm: no such file$/);
  });

  it('refuses a program whose initial memory is over the limit', async () => {
    const path = await watFile('big', `(module (memory (export "memory") 100) (func (export "_start")))`);
    const r = await runCli(['run', '--memory', '4M', path]);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /needs 7 MiB of memory at start, over the enclave limit of 4 MiB/);
  });

  it('makes memory.grow fail at the limit', async () => {
    // Exits with the result of growing 1 -> 200 pages (12.5 MiB) under a 4 MiB limit: -1 -> 255.
    const path = await watFile(
      'grow',
      `(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "_start") (call $exit (i32.and (memory.grow (i32.const 199)) (i32.const 255)))))`,
    );
    assert.equal((await runCli(['run', '--memory', '4M', path])).code, 255);
    assert.equal(
      (await runCli(['run', '--memory', '16M', path])).code,
      1,
      'old size 1 page under a big enough limit',
    );
  });

  it('reports a trap with its function name and status 134', async () => {
    const path = await watFile(
      'trap',
      `(module (memory (export "memory") 1)
        (func $explode unreachable)
        (func (export "_start") (call $explode)))`,
    );
    const r = await runCli(['run', path]);
    assert.equal(r.code, 134);
    assertOneLineError(r.stderr, /^wasm trap: unreachable.* in function .*explode/);
  });

  it('reports endless recursion as a trap', async () => {
    const path = await watFile(
      'recurse',
      `(module (memory (export "memory") 1)
        (func $down (param i32) (result i32) (call $down (i32.add (local.get 0) (i32.const 1))))
        (func (export "_start") (drop (call $down (i32.const 0)))))`,
    );
    const r = await runCli(['run', path]);
    assert.equal(r.code, 134);
    assertOneLineError(r.stderr, /^wasm trap: Maximum call stack size exceeded/);
  });

  it('reports a stack overflow inside an import as a trap, not as EFAULT from the call', async () => {
    // Each level writes a byte before it recurses, so the stack runs out inside the import (whose
    // error path is warm from a first call on a bad descriptor); a failed call unwinds with its
    // errno and _start exits with it. Taking the overflow for a bad pointer ends the program with
    // status 21 (EFAULT) and lets it carry on.
    const path = await watFile(
      'recurse-through-import',
      `(module
        (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "\\10\\00\\00\\00\\01\\00\\00\\00")
        (data (i32.const 16) ".")
        (func $down (result i32) (local $errno i32)
          (local.set $errno (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
          (if (result i32) (local.get $errno) (then (local.get $errno)) (else (call $down))))
        (func (export "_start")
          (drop (call $write (i32.const 99) (i32.const 0) (i32.const 1) (i32.const 8)))
          (call $exit (call $down))))`,
    );
    const r = spawnSync(process.execPath, [cliPath, 'run', path], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 134, `status ${r.status}, signal ${r.signal}: ${r.stderr}`);
    assertOneLineError(r.stderr, /^wasm trap: Maximum call stack size exceeded/);
  });

  it('runs none of the program when the platform fails to open', async () => {
    // The enclave boots while the launcher opens the platform; until it is open no host call is
    // answered. Here it never opens (a platform file that is not JSON): the program must not have
    // printed or created anything. (The platform fails fast here, so this guards the order of the
    // launch rather than forcing the race.)
    const dir = tempDir();
    const platform = join(dir, 'platform.json');
    writeFileSync(platform, 'not json', { mode: 0o600 });
    const path = await watFile(
      'touch',
      `(module
        (import "wasi_snapshot_preview1" "path_open"
          (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "touched")
        (data (i32.const 16) "\\20\\00\\00\\00\\03\\00\\00\\00")
        (data (i32.const 32) "ran")
        (func (export "_start")
          (drop (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 7) (i32.const 1)
            (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 64)))
          (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 48)))))`,
    );
    // With the platform in order, the program prints and creates its file.
    const control = join(dir, 'control');
    mkdirSync(control);
    const ok = await runCli(['run', '--dir', `${control}::/data`, path]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'ran');
    assert.deepEqual(readdirSync(control), ['touched']);
    const data = join(dir, 'data');
    mkdirSync(data);
    const r = await runCli(['run', '--dir', `${data}::/data`, path], {
      env: { CLOISTER_SIM_PLATFORM: platform },
    });
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /^cloister: error: .*platform\.json: not JSON/);
    assert.equal(r.stdout, '');
    assert.deepEqual(readdirSync(data), []);
  });

  it('rejects bad options with a usage error', async () => {
    const path = await watFile('ok', `(module (memory (export "memory") 1) (func (export "_start")))`);
    const bad = await runCli(['run', '--memory', 'lots', path]);
    assert.equal(bad.code, 2);
    assertOneLineError(bad.stderr, /--memory: cannot read "lots"/);
    const dir = await runCli(['run', '--dir', '/nonexistent::/data', path]);
    assert.equal(dir.code, 2);
    assertOneLineError(dir.stderr, /--dir \/nonexistent::\/data: \/nonexistent is not a directory/);
  });

  it('prints a stack trace only with --verbose', async () => {
    const path = join(tempDir(), 'broken.json');
    writeFileSync(path, '{ not json');
    const wasm = await watFile('ok2', `(module (memory (export "memory") 1) (func (export "_start")))`);
    const r = await runCli(['run', '--config', path, wasm]);
    assert.equal(r.code, 2);
    assertOneLineError(r.stderr, /^cloister: error: --config .*broken\.json: /);
  });

  it('stops the enclave with one line when the host answers the wrong request', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'data.txt'), 'secret');
    const r = await runCli(
      ['run', '--dir', `${dir}::/data`, '--env', 'HOME=/data', 'examples/sqlite3.wasm'],
      {
        input: "select readfile('/data/data.txt');\n",
        env: { CLOISTER_HOST_FAULT: 'file_pread:wrong-request' },
      },
    );
    assert.equal(r.code, 1);
    assertOneLineError(
      r.stderr,
      /^cloister: error: enclave stopped: host answered request \d+ in the slot of request \d+ \(file_pread\)$/,
    );
    assert.equal(r.stdout, '', 'nothing the host returned reached the program');
  });

  it('turns a forbidden errno or an oversized reply into EIO for the program', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'data.txt'), 'secret');
    for (const fault of ['errno', 'length']) {
      const r = await runCli(
        ['run', '--dir', `${dir}::/data`, '--env', 'HOME=/data', 'examples/sqlite3.wasm'],
        {
          input: "select length(readfile('/data/data.txt'));\n",
          env: { CLOISTER_HOST_FAULT: `file_pread:${fault}` },
        },
      );
      assert.equal(r.code, 1, `${fault}: ${r.stderr}`);
      assert.match(r.stderr, /disk I\/O error/, `${fault}: the program sees EIO`);
      assert.equal(r.stdout, '', `${fault}: none of the host's bytes reach the program`);
    }
  });
});
