/**
 * Threads inside the enclave, with programs of our own (test/threads/programs.ts): a lock taken
 * by many threads gives the exact count with no host call for synchronisation; a parallel hash
 * prints the same with 1, 2 and 4 threads; the thread limit fails `thread-spawn` (no hang); a trap
 * in any thread ends the program; and bad modules or options get one-line errors.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from '../../src/host/launcher.ts';
import {
  assemble,
  cliPath,
  errorLines,
  lockCounterWat,
  parallelHashWat,
  runOpenStdin,
  tempDir,
} from './programs.ts';

const dir = tempDir();
after(() => dir.remove());

const MINIMAL = `
  (func $thread_spawn (import "wasi" "thread-spawn") (param i32) (result i32))
  (func $proc_exit (import "wasi_snapshot_preview1" "proc_exit") (param i32))`;

/** Host calls in a `--trace-host` table. */
function hostCalls(stderr: string): number {
  const match = /(\d+) host calls/.exec(stderr);
  assert.ok(match, `no trace in: ${stderr}`);
  return Number(match[1]);
}

test('a lock taken 20,000 times by each of 6 threads counts exactly, with no host call per lock', async () => {
  const few = await runOpenStdin([
    '--trace-host',
    await assemble(dir.path, 'lock-few', lockCounterWat(6, 10)),
  ]);
  const many = await runOpenStdin([
    '--trace-host',
    await assemble(dir.path, 'lock-many', lockCounterWat(6, 20_000)),
  ]);
  assert.equal(few.code, 0, few.stderr);
  assert.equal(many.code, 0, `the counter was not exact: ${many.stderr}`);
  // 120,000 lock/unlock pairs cost the same host calls as 60: synchronisation never leaves the enclave.
  assert.equal(hostCalls(many.stderr), hostCalls(few.stderr));
  assert.ok(hostCalls(many.stderr) <= 4, many.stderr);
});

test('a parallel hash prints the same sum with 1, 2 and 4 threads', async () => {
  const outputs: string[] = [];
  for (const threads of [1, 2, 4]) {
    const path = await assemble(dir.path, `hash-${threads}`, parallelHashWat(threads, 100_000, 4));
    const result = await runOpenStdin([path]);
    assert.equal(result.code, 0, result.stderr);
    outputs.push(result.stdout);
  }
  assert.match(outputs[0], /^[0-9a-f]{16}\n$/);
  assert.deepEqual(outputs, [outputs[0], outputs[0], outputs[0]]);
});

/** Spawns a thread that waits forever, then another: exit 50 if both start, else -errno of the second. */
const TWO_SPAWNS = `(module (memory (import "env" "memory") 1 1 shared) ${MINIMAL}
  (func (export "wasi_thread_start") (param i32 i32)
    (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))))
  (func (export "_start") (local $r i32)
    (if (i32.le_s (call $thread_spawn (i32.const 0)) (i32.const 0)) (then (call $proc_exit (i32.const 200))))
    (local.set $r (call $thread_spawn (i32.const 0)))
    (if (i32.lt_s (local.get $r) (i32.const 0)) (then (call $proc_exit (i32.sub (i32.const 0) (local.get $r)))))
    (call $proc_exit (i32.const 50))))`;

test('more live threads than --threads: thread-spawn fails with -EAGAIN, no hang', async () => {
  const path = await assemble(dir.path, 'two-spawns', TWO_SPAWNS);
  const limited = await runOpenStdin(['--threads', '2', path], 30_000);
  assert.equal(limited.killed, false);
  assert.equal(limited.code, 6, limited.stderr);
  const roomy = await runOpenStdin(['--threads', '3', path], 30_000);
  assert.equal(roomy.code, 50, roomy.stderr);
});

test('a trap in a spawned thread ends the whole program with status 134', async () => {
  const path = await assemble(
    dir.path,
    'thread-trap',
    `(module (memory (import "env" "memory") 1 1 shared) ${MINIMAL}
      (func $boom (export "wasi_thread_start") (param i32 i32) unreachable)
      (func (export "_start")
        (drop (call $thread_spawn (i32.const 0)))
        (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1)))))`,
  );
  const result = await runOpenStdin([path], 30_000);
  assert.equal(result.code, 134);
  assert.deepEqual(errorLines(result.stderr), ['wasm trap: unreachable in function boom']);
});

test("a call's result kept in a local across memory.atomic.wait32 survives (V8 Liftoff bug)", async () => {
  // Node 20's baseline compiler loses the local here; main.ts compiles threaded programs without it.
  const path = await assemble(
    dir.path,
    'local-across-wait',
    `(module (memory (import "env" "memory") 1 1 shared) ${MINIMAL}
      (func (export "wasi_thread_start") (param i32 i32))
      (func (export "_start") (local $tid i32)
        (local.set $tid (call $thread_spawn (i32.const 0)))
        (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 1000)))
        (call $proc_exit (i32.add (i32.const 100) (local.get $tid)))))`,
  );
  const result = await runOpenStdin([path], 30_000);
  assert.equal(result.code, 101, result.stderr);
});

test('a thread blocked reading stdin does not stop the others: main writes 100 lines meanwhile', async () => {
  const path = await assemble(
    dir.path,
    'reader-and-writer',
    `(module (memory (import "env" "memory") 1 1 shared) ${MINIMAL}
      (func $fd_read (import "wasi_snapshot_preview1" "fd_read") (param i32 i32 i32 i32) (result i32))
      (func $fd_write (import "wasi_snapshot_preview1" "fd_write") (param i32 i32 i32 i32) (result i32))
      (func (export "wasi_thread_start") (param i32 i32)
        (i32.store (i32.const 100) (i32.const 200))
        (i32.store (i32.const 104) (i32.const 1))
        (drop (call $fd_read (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 300)))
        (call $proc_exit (i32.const 3)))
      (func (export "_start") (local $i i32)
        (if (i32.le_s (call $thread_spawn (i32.const 0)) (i32.const 0)) (then (call $proc_exit (i32.const 2))))
        (drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 200000000)))
        (i32.store16 (i32.const 400) (i32.const 0x0a78))
        (i32.store (i32.const 500) (i32.const 400))
        (i32.store (i32.const 504) (i32.const 2))
        (loop $line
          (drop (call $fd_write (i32.const 1) (i32.const 500) (i32.const 1) (i32.const 508)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $line (i32.lt_u (local.get $i) (i32.const 100))))
        (call $proc_exit (i32.const 0))))`,
  );
  const result = await runOpenStdin([path], 30_000);
  assert.equal(result.killed, false, 'the writer was held up by the reader');
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'x\n'.repeat(100));
});

test('poll_oneoff on an empty stdin with a 200 ms timeout ends with the clock event', async () => {
  // The kernel hands the wait back to the thread and the call is made again: the timeout must still
  // count from the first attempt, or the poll would never end.
  const path = await assemble(
    dir.path,
    'poll-timeout',
    `(module (memory (import "env" "memory") 1 1 shared) ${MINIMAL}
      (func $poll (import "wasi_snapshot_preview1" "poll_oneoff") (param i32 i32 i32 i32) (result i32))
      (func (export "wasi_thread_start") (param i32 i32))
      (func (export "_start")
        (drop (call $thread_spawn (i32.const 0)))
        (i64.store (i32.const 1000) (i64.const 1))
        (i32.store8 (i32.const 1008) (i32.const 0))
        (i32.store (i32.const 1016) (i32.const 1))
        (i64.store (i32.const 1024) (i64.const 200000000))
        (i64.store (i32.const 1048) (i64.const 2))
        (i32.store8 (i32.const 1056) (i32.const 1))
        (i32.store (i32.const 1064) (i32.const 0))
        (if (call $poll (i32.const 1000) (i32.const 2000) (i32.const 2) (i32.const 3000))
          (then (call $proc_exit (i32.const 2))))
        (call $proc_exit (i32.add (i32.const 100)
          (i32.add (i32.mul (i32.load (i32.const 2000)) (i32.const 10)) (i32.load (i32.const 3000)))))))`,
  );
  const result = await runOpenStdin([path], 30_000);
  assert.equal(result.killed, false, 'the poll never ended');
  assert.equal(result.code, 111, result.stderr);
});

test('the kernel sees memory a thread grew: fd_write from a new page', async () => {
  const path = await assemble(
    dir.path,
    'grown',
    `(module (memory (import "env" "memory") 1 4 shared) ${MINIMAL}
      (func $fd_write (import "wasi_snapshot_preview1" "fd_write") (param i32 i32 i32 i32) (result i32))
      (func (export "wasi_thread_start") (param i32 i32))
      (func (export "_start")
        (if (i32.ne (memory.grow (i32.const 2)) (i32.const 1)) (then (call $proc_exit (i32.const 2))))
        (i32.store (i32.const 131172) (i32.const 0x776f7267))
        (i32.store16 (i32.const 131176) (i32.const 0x0a6e))
        (i32.store (i32.const 131072) (i32.const 131172))
        (i32.store (i32.const 131076) (i32.const 6))
        (call $proc_exit (call $fd_write (i32.const 1) (i32.const 131072) (i32.const 1) (i32.const 131080)))))`,
  );
  const result = await runOpenStdin([path], 30_000);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'grown\n');
});

const badModules: [string, string, string[], RegExp][] = [
  [
    'thread-spawn with a non-shared memory',
    `(module (memory (import "env" "memory") 1 1) ${MINIMAL}
      (func (export "wasi_thread_start") (param i32 i32)) (func (export "_start")))`,
    [],
    /^cloister: error: the program imports wasi.thread-spawn but its memory env.memory is not shared/,
  ],
  [
    'thread-spawn with a memory of its own',
    `(module ${MINIMAL} (memory (export "memory") 1 1 shared)
      (func (export "wasi_thread_start") (param i32 i32)) (func (export "_start")))`,
    [],
    /^cloister: error: the program imports wasi.thread-spawn but not its memory/,
  ],
  [
    'a shared memory maximum over the --memory limit',
    `(module (memory (import "env" "memory") 1 2048 shared) ${MINIMAL}
      (func (export "wasi_thread_start") (param i32 i32)) (func (export "_start")))`,
    ['--memory', '64M'],
    /^cloister: error: the program's shared memory may grow to 128 MiB, over the enclave limit of 64 MiB/,
  ],
  [
    'a shared memory whose start is over the --memory limit',
    `(module (memory (import "env" "memory") 2048 2048 shared) ${MINIMAL}
      (func (export "wasi_thread_start") (param i32 i32)) (func (export "_start")))`,
    ['--memory', '64M'],
    /^cloister: error: the program needs 128 MiB of memory at start, over the enclave limit of 64 MiB/,
  ],
  [
    'thread-spawn without wasi_thread_start',
    `(module (memory (import "env" "memory") 1 1 shared) ${MINIMAL} (func (export "_start")))`,
    [],
    /^cloister: error: the program imports wasi.thread-spawn but exports no wasi_thread_start function/,
  ],
];

for (const [what, wat, options, message] of badModules) {
  test(`bad module: ${what}: a one-line error`, async () => {
    const path = await assemble(dir.path, what.replaceAll(/\W+/g, '-'), wat);
    const result = await runOpenStdin([...options, path], 30_000);
    assert.equal(result.code, 1);
    const lines = errorLines(result.stderr);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], message);
  });
}

for (const value of ['0', '65', '1000000000', 'abc', '-1', '2.5']) {
  test(`--threads ${value}: a one-line usage error`, async () => {
    const path = await assemble(dir.path, 'noop', lockCounterWat(1, 1));
    const result = await runOpenStdin(['--threads', value, path], 30_000);
    assert.notEqual(result.code, 0);
    const lines = errorLines(result.stderr);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], /--threads must be a whole number from 1 to 64/);
  });
}

test('a host handing over another bundle for the thread workers: the enclave refuses to start threads', async () => {
  const path = await assemble(dir.path, 'bundle-swap', lockCounterWat(2, 10));
  const base = { wasm: new Uint8Array(readFileSync(path)), hostDirs: [] };
  const config = { version: 1 as const, args: ['p'], env: [], mounts: [], memoryMiB: 64 };
  const honest = await launch({ ...base, config });
  assert.equal(honest.status, 0, honest.message);
  const swapped = await launch({
    ...base,
    config,
    threadBundle: (measured) => `${measured}\n;globalThis.stolen = true;`,
  });
  assert.equal(swapped.status, 1);
  assert.equal(swapped.message, 'the enclave bundle for threads is not the measured one');
});

test('--threads is measured: 4 differs from the default, and 8 (the default) measures as no flag', async () => {
  const path = await assemble(dir.path, 'measured', lockCounterWat(2, 1));
  const measure = (options: string[]): string =>
    execFileSync(process.execPath, [cliPath, 'measure', ...options, path], { encoding: 'utf8' }).trim();
  const plain = measure([]);
  assert.match(plain, /^[0-9a-f]{64}$/);
  assert.equal(measure(['--threads', '8']), plain);
  assert.notEqual(measure(['--threads', '4']), plain);
});
