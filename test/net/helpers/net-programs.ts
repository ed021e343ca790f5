/**
 * Programs in WAT for the `--net` tests of threads and of pumping: assembled at test time with
 * `assemble` (test/threads/programs.ts), run through the built `cloister`.
 */

const MESSAGE_AT = 256;

/** Data segment and fd_write of a fixed line on stdout. */
function say(at: number, text: string): { data: string; call: string } {
  const bytes = Buffer.from(text);
  return {
    data: `(data (i32.const ${at}) "${[...bytes].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('')}")`,
    call: `(i32.store (i32.const 32) (i32.const ${at})) (i32.store (i32.const 36) (i32.const ${bytes.length}))
      (drop (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40)))`,
  };
}

/**
 * A server with a thread per connection (wasi-threads): main accepts `connections` connections on
 * the preopened listener (fd 3), printing `accepted N` after each, and hands each to a new thread;
 * a thread reads once (the request), answers `HTTP/1.0 200 OK` with the body `served on a
 * thread\n`, closes the connection and counts itself done; main exits 0 when all are.
 * A thread blocked in its read must not keep main from accepting, nor other threads from serving.
 *   0: threads done   32..47: iovec, nwritten   64: accepted fd   4096 + 8192 * i: connection i
 */
export function threadedServerWat(connections: number): string {
  const serving = say(MESSAGE_AT, 'threaded-server: serving\n');
  const response = Buffer.from('HTTP/1.0 200 OK\r\nContent-Length: 19\r\n\r\nserved on a thread\n');
  const responseAt = 512;
  return `(module
  (memory (import "env" "memory") 8 8 shared)
  (func $thread_spawn (import "wasi" "thread-spawn") (param i32) (result i32))
  (func $proc_exit (import "wasi_snapshot_preview1" "proc_exit") (param i32))
  (func $fd_write (import "wasi_snapshot_preview1" "fd_write") (param i32 i32 i32 i32) (result i32))
  (func $fd_read (import "wasi_snapshot_preview1" "fd_read") (param i32 i32 i32 i32) (result i32))
  (func $fd_close (import "wasi_snapshot_preview1" "fd_close") (param i32) (result i32))
  (func $sock_accept (import "wasi_snapshot_preview1" "sock_accept") (param i32 i32 i32) (result i32))
  ${serving.data}
  (data (i32.const ${responseAt}) "${[...response].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('')}")
  (data (i32.const 384) "accepted 0\\0a")
  (func (export "wasi_thread_start") (param $tid i32) (param $i i32) (local $base i32) (local $fd i32)
    (local.set $base (i32.add (i32.const 4096) (i32.mul (local.get $i) (i32.const 8192))))
    (local.set $fd (i32.load (local.get $base)))
    ;; iovec at base+8: 4096 bytes at base+512; nread at base+16
    (i32.store (i32.add (local.get $base) (i32.const 8)) (i32.add (local.get $base) (i32.const 512)))
    (i32.store (i32.add (local.get $base) (i32.const 12)) (i32.const 4096))
    (if (call $fd_read (local.get $fd) (i32.add (local.get $base) (i32.const 8)) (i32.const 1) (i32.add (local.get $base) (i32.const 16)))
      (then (call $proc_exit (i32.const 4))))
    (i32.store (i32.add (local.get $base) (i32.const 8)) (i32.const ${responseAt}))
    (i32.store (i32.add (local.get $base) (i32.const 12)) (i32.const ${response.length}))
    (if (call $fd_write (local.get $fd) (i32.add (local.get $base) (i32.const 8)) (i32.const 1) (i32.add (local.get $base) (i32.const 16)))
      (then (call $proc_exit (i32.const 5))))
    (if (i32.ne (i32.load (i32.add (local.get $base) (i32.const 16))) (i32.const ${response.length}))
      (then (call $proc_exit (i32.const 6))))
    (drop (call $fd_close (local.get $fd)))
    (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))
    (drop (memory.atomic.notify (i32.const 0) (i32.const 1))))
  (func (export "_start") (local $n i32) (local $seen i32)
    ${serving.call}
    (loop $accept
      (if (call $sock_accept (i32.const 3) (i32.const 0) (i32.const 64)) (then (call $proc_exit (i32.const 2))))
      (i32.store (i32.add (i32.const 4096) (i32.mul (local.get $n) (i32.const 8192))) (i32.load (i32.const 64)))
      (if (i32.le_s (call $thread_spawn (local.get $n)) (i32.const 0)) (then (call $proc_exit (i32.const 3))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (i32.store8 (i32.const 393) (i32.add (i32.const 48) (local.get $n)))
      (i32.store (i32.const 32) (i32.const 384)) (i32.store (i32.const 36) (i32.const 11))
      (drop (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40)))
      (br_if $accept (i32.lt_u (local.get $n) (i32.const ${connections}))))
    (loop $join
      (local.set $seen (i32.atomic.load (i32.const 0)))
      (if (i32.lt_u (local.get $seen) (i32.const ${connections}))
        (then
          (drop (memory.atomic.wait32 (i32.const 0) (local.get $seen) (i64.const -1)))
          (br $join))))
    (call $proc_exit (i32.const 0))))`;
}

/**
 * A threaded program that, once it has said `spinning`, computes forever without making a single
 * call (an empty loop in wasm): only the kernel can keep its network moving.
 */
export function spinningThreadedWat(): string {
  const spinning = say(MESSAGE_AT, 'spinning\n');
  return `(module
  (memory (import "env" "memory") 1 1 shared)
  (func $thread_spawn (import "wasi" "thread-spawn") (param i32) (result i32))
  (func $fd_write (import "wasi_snapshot_preview1" "fd_write") (param i32 i32 i32 i32) (result i32))
  ${spinning.data}
  (func (export "wasi_thread_start") (param $tid i32) (param $arg i32))
  (func (export "_start")
    ${spinning.call}
    (loop $forever (br $forever))))`;
}

/**
 * A single-threaded program that says `reading stdin`, then blocks reading stdin until end of file
 * (or polls stdin alone with poll_oneoff, `poll` true) and exits 0: nothing else moves its network.
 */
export function stdinReaderWat(poll: boolean): string {
  const reading = say(MESSAGE_AT, 'reading stdin\n');
  // poll_oneoff: one FD_READ subscription on fd 0 at 512 (userdata 0, tag 1, fd 0), event at 600.
  const wait = poll
    ? `(i32.store8 (i32.const 520) (i32.const 1)) (i32.store (i32.const 528) (i32.const 0))
       (drop (call $poll_oneoff (i32.const 512) (i32.const 600) (i32.const 1) (i32.const 40)))`
    : '';
  return `(module
  (func $fd_write (import "wasi_snapshot_preview1" "fd_write") (param i32 i32 i32 i32) (result i32))
  (func $fd_read (import "wasi_snapshot_preview1" "fd_read") (param i32 i32 i32 i32) (result i32))
  (func $poll_oneoff (import "wasi_snapshot_preview1" "poll_oneoff") (param i32 i32 i32 i32) (result i32))
  (func $proc_exit (import "wasi_snapshot_preview1" "proc_exit") (param i32))
  (memory (export "memory") 1)
  ${reading.data}
  (func (export "_start")
    ${reading.call}
    (loop $more
      ${wait}
      (i32.store (i32.const 48) (i32.const 1024)) (i32.store (i32.const 52) (i32.const 1024))
      (drop (call $fd_read (i32.const 0) (i32.const 48) (i32.const 1) (i32.const 56)))
      (br_if $more (i32.ne (i32.load (i32.const 56)) (i32.const 0))))
    (call $proc_exit (i32.const 0))))`;
}
