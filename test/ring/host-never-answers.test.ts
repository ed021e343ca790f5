// `cloister run` when its host-call server never answers, when the program never ends, and on
// Ctrl-C: the run always ends, and says why.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, describe, it } from 'node:test';
import { cliPath, watFile, withoutSimWarning } from '../helpers/cli.ts';

const made: string[] = [];
after(() => {
  for (const file of made) rmSync(dirname(file), { recursive: true, force: true });
});

async function wasm(name: string, text: string): Promise<string> {
  const path = await watFile(name, text);
  made.push(path);
  return path;
}

// Each says "ready" on stdout first: the enclave runs, so the launcher handles signals by then.
const LOOP = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "ready\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 6))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (loop $l (br $l))))`;
// Reads stdin until end of file (which never comes: the test keeps stdin open).
const READ_STDIN = `(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "ready\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 6))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 64))
    (loop $l
      (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $l (i32.load (i32.const 8))))))`;
const HELLO = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 6))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;

interface Run {
  /** Resolves once stderr (or stdout) matches `pattern` (rejects after `ms`). */
  stderrMatches(pattern: RegExp, ms: number): Promise<void>;
  stdoutMatches(pattern: RegExp, ms: number): Promise<void>;
  signal(name: NodeJS.Signals): void;
  /** Exit code and signal, or a failure when the run is still going after `ms` (it is then killed). */
  ended(ms: number): Promise<{ code: number | null; signal: string | null; stderr: string }>;
}

/** Starts `cloister run`, stdin left open. */
function start(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [cliPath, 'run', ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stdin.on('error', () => {});
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const matches = async (text: () => string, pattern: RegExp, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!pattern.test(text())) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`output did not match ${pattern} within ${ms} ms:\n${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return {
    stderrMatches: (pattern, ms) => matches(() => stderr, pattern, ms),
    stdoutMatches: (pattern, ms) => matches(() => stdout, pattern, ms),
    signal: (name) => void child.kill(name),
    ended: async (ms) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, ms, 'late')));
      const result = await Promise.race([exited, late]);
      clearTimeout(timer);
      child.stdin.destroy();
      if (result === 'late') {
        child.kill('SIGKILL');
        await exited;
        assert.fail(`cloister run did not end within ${ms} ms:\n${stderr}`);
      }
      return { ...result, stderr };
    },
  };
}

describe('cloister run when the host or the program never answer', { concurrency: true }, () => {
  it('Ctrl-C ends a program that loops for ever, with status 130', async () => {
    const run = start([await wasm('loop', LOOP)]);
    await run.stdoutMatches(/ready/, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    run.signal('SIGINT');
    const r = await run.ended(10_000);
    assert.equal(r.code, 130, r.stderr);
    assert.match(withoutSimWarning(r.stderr), /^cloister: error: interrupted\n$/);
  });

  it('a program waiting on stdin is not reported as a stuck host, and Ctrl-C ends it with 130', async () => {
    const run = start([await wasm('read-stdin', READ_STDIN)]);
    await run.stdoutMatches(/ready/, 30_000);
    // Past the time after which an unanswered call is reported (5 s): stdin may wait for ever.
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    run.signal('SIGINT');
    const r = await run.ended(10_000);
    assert.equal(r.code, 130, r.stderr);
    assert.doesNotMatch(r.stderr, /not answering/);
  });

  it('says which call a host that never answers leaves the enclave waiting on, and Ctrl-C still ends the run', async () => {
    const run = start([await wasm('hello', HELLO)], { CLOISTER_HOST_FAULT: 'clock_sync:hang' });
    await run.stderrMatches(/cloister: host-call server not answering clock_sync for \d+ s/, 30_000);
    run.signal('SIGINT');
    const r = await run.ended(10_000);
    assert.equal(r.code, 130, r.stderr);
  });

  it('Ctrl-C ends the run even when a host thread is blocked in the kernel (by the signal itself)', async () => {
    const run = start([await wasm('hello-kernel', HELLO)], {
      CLOISTER_HOST_FAULT: 'clock_sync:hang-in-kernel',
    });
    await run.stderrMatches(/not answering clock_sync/, 30_000);
    run.signal('SIGINT');
    const r = await run.ended(15_000);
    // The launcher could not stop the thread: it ended the process with the default action of SIGINT.
    assert.equal(r.signal, 'SIGINT', r.stderr);
    assert.match(r.stderr, /cloister: error: interrupted; a thread did not stop, ending by the signal\n$/);
  });

  it('ends with a clear message when the host answers the exit call with another request', async () => {
    const run = start([await wasm('hello-exit', HELLO)], { CLOISTER_HOST_FAULT: 'exit:wrong-request' });
    const r = await run.ended(30_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      withoutSimWarning(r.stderr),
      /^cloister: error: enclave stopped: host answered request \d+ in the slot of request \d+ \(exit\)\n$/,
    );
  });
});
