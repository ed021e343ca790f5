/**
 * wasi-threads programs written in WAT for the thread tests and bench/threads.ts, and the helpers
 * that assemble them (with the threads feature) and run them through the built `cloister` with
 * stdin a pipe that stays open and empty (as the wasi-threads tests assume).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtFactory from 'wabt';

export const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

const HEADER = `
  (memory (import "env" "memory") PAGES PAGES shared)
  (func $thread_spawn (import "wasi" "thread-spawn") (param i32) (result i32))
  (func $proc_exit (import "wasi_snapshot_preview1" "proc_exit") (param i32))
  (func $fd_write (import "wasi_snapshot_preview1" "fd_write") (param i32 i32 i32 i32) (result i32))
`;

const header = (pages: number): string => HEADER.replaceAll('PAGES', String(pages));

/**
 * `threads` threads (main included) each take a futex-style lock `rounds` times and increment a
 * plain (non-atomic) counter under it; main waits for the others, then exits 0 if the counter is
 * exactly threads * rounds, 1 otherwise. Contended acquisitions park in memory.atomic.wait32.
 *   0: lock (0 free, 1 held)   4: counter   8: threads finished
 */
export function lockCounterWat(threads: number, rounds: number): string {
  return `(module ${header(1)}
  (func $lock
    (block $got (loop $retry
      (br_if $got (i32.eqz (i32.atomic.rmw.cmpxchg (i32.const 0) (i32.const 0) (i32.const 1))))
      (drop (memory.atomic.wait32 (i32.const 0) (i32.const 1) (i64.const -1)))
      (br $retry))))
  (func $unlock
    (i32.atomic.store (i32.const 0) (i32.const 0))
    (drop (memory.atomic.notify (i32.const 0) (i32.const 1))))
  (func $work (local $i i32)
    (loop $more
      (call $lock)
      (i32.store (i32.const 4) (i32.add (i32.load (i32.const 4)) (i32.const 1)))
      (call $unlock)
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const ${rounds})))))
  (func (export "wasi_thread_start") (param $tid i32) (param $arg i32)
    (call $work)
    (drop (i32.atomic.rmw.add (i32.const 8) (i32.const 1)))
    (drop (memory.atomic.notify (i32.const 8) (i32.const 1))))
  (func (export "_start") (local $n i32) (local $seen i32)
    (loop $spawn
      (if (i32.le_s (call $thread_spawn (i32.const 0)) (i32.const 0)) (then (call $proc_exit (i32.const 2))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $spawn (i32.lt_u (local.get $n) (i32.const ${threads - 1}))))
    (call $work)
    (loop $join
      (local.set $seen (i32.atomic.load (i32.const 8)))
      (if (i32.lt_u (local.get $seen) (i32.const ${threads - 1}))
        (then
          (drop (memory.atomic.wait32 (i32.const 8) (local.get $seen) (i64.const -1)))
          (br $join))))
    (call $proc_exit (i32.ne (i32.load (i32.const 4)) (i32.const ${threads * rounds})))))`;
}

/**
 * A parallel hash of a buffer: `threads` threads (main included) each fill their share of a
 * `words`-word buffer from the word index, then hash every word of it (`rounds` multiply-xorshift
 * rounds) and add the hashes into one 64-bit sum; main prints the sum as 16 hex digits. The sum
 * does not depend on how the words are shared out, so every thread count prints the same line.
 *   8: sum (i64)   16: threads finished   64..: output   65536..: the buffer
 */
export function parallelHashWat(threads: number, words: number, rounds: number): string {
  const pages = parallelHashPages(words);
  const share = Math.ceil(words / threads);
  return `(module ${header(pages)}
  (func $mix (param $x i64) (result i64)
    (local.set $x (i64.mul (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 33))) (i64.const 0xff51afd7ed558ccd)))
    (local.set $x (i64.mul (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 33))) (i64.const 0xc4ceb9fe1a85ec53)))
    (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 33))))
  (func $share (param $part i32) (local $i i32) (local $end i32) (local $h i64) (local $r i32) (local $sum i64)
    (local.set $i (i32.mul (local.get $part) (i32.const ${share})))
    (local.set $end (i32.add (local.get $i) (i32.const ${share})))
    (if (i32.gt_u (local.get $end) (i32.const ${words})) (then (local.set $end (i32.const ${words}))))
    (block $done (loop $fill
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (i32.store (i32.add (i32.const 65536) (i32.shl (local.get $i) (i32.const 2)))
        (i32.wrap_i64 (call $mix (i64.extend_i32_u (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill)))
    (local.set $i (i32.mul (local.get $part) (i32.const ${share})))
    (block $done (loop $hash
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $h (i64.load32_u (i32.add (i32.const 65536) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $r (i32.const 0))
      (loop $round
        (local.set $h (call $mix (i64.add (local.get $h) (i64.extend_i32_u (local.get $r)))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br_if $round (i32.lt_u (local.get $r) (i32.const ${rounds}))))
      (local.set $sum (i64.add (local.get $sum) (local.get $h)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $hash)))
    (drop (i64.atomic.rmw.add (i32.const 8) (local.get $sum))))
  (func (export "wasi_thread_start") (param $tid i32) (param $part i32)
    (call $share (local.get $part))
    (drop (i32.atomic.rmw.add (i32.const 16) (i32.const 1)))
    (drop (memory.atomic.notify (i32.const 16) (i32.const 1))))
  (func (export "_start") (local $n i32) (local $seen i32) (local $sum i64) (local $d i32)
    (local.set $n (i32.const 1))
    (block $spawned (loop $spawn
      (br_if $spawned (i32.ge_u (local.get $n) (i32.const ${threads})))
      (if (i32.le_s (call $thread_spawn (local.get $n)) (i32.const 0)) (then (call $proc_exit (i32.const 2))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $spawn)))
    (call $share (i32.const 0))
    (loop $join
      (local.set $seen (i32.atomic.load (i32.const 16)))
      (if (i32.lt_u (local.get $seen) (i32.const ${threads - 1}))
        (then
          (drop (memory.atomic.wait32 (i32.const 16) (local.get $seen) (i64.const -1)))
          (br $join))))
    (local.set $sum (i64.atomic.load (i32.const 8)))
    (local.set $n (i32.const 0))
    (loop $digit
      (local.set $d (i32.wrap_i64 (i64.and (i64.shr_u (local.get $sum) (i64.extend_i32_u (i32.sub (i32.const 60) (i32.shl (local.get $n) (i32.const 2))))) (i64.const 15))))
      (i32.store8 (i32.add (i32.const 128) (local.get $n))
        (i32.add (local.get $d) (select (i32.const 48) (i32.const 87) (i32.lt_u (local.get $d) (i32.const 10)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $digit (i32.lt_u (local.get $n) (i32.const 16))))
    (i32.store8 (i32.const 144) (i32.const 10))
    (i32.store (i32.const 64) (i32.const 128))
    (i32.store (i32.const 68) (i32.const 17))
    (drop (call $fd_write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 72)))))`;
}

/** The memory size, in pages, of `parallelHashWat` over `words` words. */
export function parallelHashPages(words: number): number {
  return 2 + Math.ceil((words * 4) / 65536);
}

/** Assembles WAT with the threads feature into `dir`/`name`.wasm; returns the path. */
export async function assemble(dir: string, name: string, text: string): Promise<string> {
  const wabt = await wabtFactory();
  const module = wabt.parseWat(`${name}.wat`, text, { threads: true });
  try {
    const { buffer } = module.toBinary({ write_debug_names: true });
    const path = join(dir, `${name}.wasm`);
    writeFileSync(path, buffer);
    return path;
  } finally {
    module.destroy();
  }
}

export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'cloister-threads-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The run was killed after `limitMs`. */
  killed: boolean;
}

/**
 * Runs `cloister run ARGS` with stdin an open pipe that never gets data (it is closed only after
 * the run ends), killing it after `limitMs` so a hang fails the test rather than holding it.
 */
export function runOpenStdin(args: string[], limitMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, 'run', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => {});
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, killed });
    });
  });
}

/** The run's stderr without the sim warning every run prints. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l !== '' && !l.includes('sim backend'));
}
