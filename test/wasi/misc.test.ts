/** proc_*, clocks, random, sockets, args, and the Wasi class's own contract. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno } from '../../src/interface/errno.ts';
import { traceImports, Wasi, WASI_CALLS } from '../../src/enclave/libos/index.ts';
import { createTmpfs } from '../../src/enclave/vfs/index.ts';
import { FIRST_PREOPEN as ROOT, Guest } from './helpers/guest.ts';
import type { GuestOptions } from './helpers/guest.ts';
import { CapturedConsole, hostClock } from './helpers/run.ts';

/** Runs `body` as a program that must exit 0. */
function inGuest(body: (g: Guest) => void, options: GuestOptions = {}): void {
  assert.equal(new Guest(options).run(body), 0);
}

test('the call table holds all 46 preview1 functions, once each', () => {
  const names = WASI_CALLS.map((c) => c.name);
  assert.equal(names.length, 46);
  assert.equal(new Set(names).size, 46);
  const g = new Guest();
  assert.deepEqual(Object.keys(g.wasi.imports.wasi_snapshot_preview1).sort(), [...names].sort());
});

test('proc_exit ends the program with its code; returning from _start is 0', () => {
  assert.equal(
    new Guest().run((g) => {
      g.call('proc_exit', 3);
      assert.fail('proc_exit returned');
    }),
    3,
  );
  assert.equal(
    new Guest().run(() => {}),
    0,
  );
});

test('traps propagate; a module without _start or memory is refused clearly', () => {
  assert.throws(
    () =>
      new Guest().run(() => {
        throw new WebAssembly.RuntimeError('unreachable');
      }),
    WebAssembly.RuntimeError,
  );
  const wasi = new Wasi({
    args: [],
    env: [],
    preopens: [],
    console: new CapturedConsole(),
    clock: hostClock,
  });
  const memory = new WebAssembly.Memory({ initial: 1 });
  assert.throws(() => wasi.start({ exports: { memory } } as unknown as WebAssembly.Instance), /_start/);
  assert.throws(
    () => wasi.start({ exports: { _start: () => {} } } as unknown as WebAssembly.Instance),
    /memory/,
  );
});

test('proc_raise is NOSYS; sched_yield succeeds', () =>
  inGuest((g) => {
    assert.equal(g.call('proc_raise', 9), Errno.NOSYS);
    assert.equal(g.call('sched_yield'), 0);
  }));

test('clocks: resolution, realtime near the host, monotonic increasing, unknown id INVAL', () =>
  inGuest((g) => {
    const out = g.alloc(8);
    for (const id of [0, 1, 2, 3]) assert.equal(g.call('clock_res_get', id, out), 0);
    assert.equal(g.u64(out), 1000n);
    assert.equal(g.call('clock_res_get', 4, out), Errno.INVAL);
    assert.equal(g.call('clock_time_get', 0, 0n, out), 0);
    const diff = g.u64(out) - BigInt(Date.now()) * 1_000_000n;
    assert.ok(diff < 1_000_000_000n && diff > -1_000_000_000n);
    g.call('clock_time_get', 1, 0n, out);
    const a = g.u64(out);
    g.call('clock_time_get', 1, 0n, out);
    assert.ok(g.u64(out) >= a);
    assert.equal(g.call('clock_time_get', 2, 0n, out), 0);
    assert.equal(g.call('clock_time_get', 9, 0n, out), Errno.INVAL);
  }));

test('random_get fills buffers of any length, larger than one getRandomValues call', () =>
  inGuest((g) => {
    const len = 100_000;
    const buf = g.alloc(len);
    assert.equal(g.call('random_get', buf, len), 0);
    const data = g.read(buf, len);
    const zeros = data.reduce((n, b) => n + (b === 0 ? 1 : 0), 0);
    assert.ok(zeros < len / 100, `${zeros} zero bytes`);
    assert.ok(data.subarray(len - 1000).some((b) => b !== 0));
    assert.equal(g.call('random_get', buf, 0), 0);
  }));

test('sockets: BADF for closed descriptors, NOTSOCK for files, directories and the console', () => {
  const g = new Guest({ preopens: [{ guestPath: '/', fs: createTmpfs() }] });
  g.run(() => {
    const out = g.alloc(16);
    for (const fd of [0, 1, ROOT]) {
      assert.equal(g.call('sock_shutdown', fd, 3), Errno.NOTSOCK);
      assert.equal(g.call('sock_accept', fd, 0, out), Errno.NOTSOCK);
      assert.equal(g.call('sock_recv', fd, out, 0, 0, out, out + 4), Errno.NOTSOCK);
      assert.equal(g.call('sock_send', fd, out, 0, 0, out), Errno.NOTSOCK);
    }
    assert.equal(g.call('sock_shutdown', 50, 3), Errno.BADF);
    assert.equal(g.call('sock_accept', 50, 0, out), Errno.BADF);
    assert.equal(g.call('sock_recv', 50, out, 0, 0, out, out + 4), Errno.BADF);
    assert.equal(g.call('sock_send', 50, out, 0, 0, out), Errno.BADF);
  });
});

test('args and environ are laid out NUL-terminated with pointers', () => {
  const g = new Guest({ args: ['prog', 'x y', 'ü'], env: ['A=1', 'B='] });
  g.run(() => {
    const sizes = g.alloc(8);
    assert.equal(g.call('args_sizes_get', sizes, sizes + 4), 0);
    assert.deepEqual([g.u32(sizes), g.u32(sizes + 4)], [3, 5 + 4 + 3]);
    const argv = g.alloc(12);
    const buf = g.alloc(12);
    assert.equal(g.call('args_get', argv, buf), 0);
    assert.equal(new TextDecoder().decode(g.read(g.u32(argv + 4), 3)), 'x y');
    assert.equal(new TextDecoder().decode(g.read(buf, 12)), 'prog\0x y\0ü\0');
    assert.equal(g.call('environ_sizes_get', sizes, sizes + 4), 0);
    assert.deepEqual([g.u32(sizes), g.u32(sizes + 4)], [2, 7]);
  });
});

test('pointers outside memory give FAULT; views follow memory.grow', () =>
  inGuest((g) => {
    const size = g.memory.buffer.byteLength;
    assert.equal(g.call('clock_time_get', 0, 0n, size - 4), Errno.FAULT);
    assert.equal(g.call('random_get', size - 4, 8), Errno.FAULT);
    const out = g.alloc(8);
    assert.equal(g.call('clock_time_get', 0, 0n, out), 0);
    g.memory.grow(1);
    assert.equal(g.call('clock_time_get', 0, 0n, size + 100), 0);
    assert.ok(new DataView(g.memory.buffer).getBigUint64(size + 100, true) > 0n);
  }));

test('traceImports reports each call with its errno and changes nothing', () => {
  const lines: string[] = [];
  const g = new Guest();
  const traced = traceImports(g.wasi.imports, (line) => lines.push(line));
  g.run(() => {
    const out = g.alloc(8);
    assert.equal(traced.wasi_snapshot_preview1.clock_res_get(1, out), 0);
    assert.equal(traced.wasi_snapshot_preview1.fd_close(99), Errno.BADF);
    assert.throws(() => traced.wasi_snapshot_preview1.proc_exit(4));
  });
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^clock_res_get\(1, \d+\) = SUCCESS$/);
  assert.equal(lines[1], 'fd_close(99) = BADF');
  assert.equal(lines[2], 'proc_exit(4) threw ProcExit');
});

test('stdin in nonblocking mode gives AGAIN when nothing is waiting', () => {
  let ready = false;
  const console = {
    write: () => {},
    readStdin: () => new TextEncoder().encode('x'),
    pollStdin: () => ready,
  };
  inGuest(
    (g) => {
      assert.equal(g.call('fd_fdstat_set_flags', 0, 4), 0);
      assert.equal(g.readFd(0, 10)[0], Errno.AGAIN);
      ready = true;
      assert.deepEqual(g.readFd(0, 10), [0, 'x']);
    },
    { console },
  );
});

test('pointers above 2 GiB work: i32 arguments are taken as unsigned', () =>
  inGuest(
    (g) => {
      const high = 0x8000_0010;
      // What a wasm caller passes for that address: the same bits as a signed i32.
      assert.equal(g.call('clock_time_get', 0, 0n, high | 0), 0);
      assert.ok(g.u64(high) > 0n);
      assert.equal(g.call('random_get', high | 0, 16), 0);
      assert.ok(g.read(high, 16).some((b) => b !== 0));
      assert.equal(g.call('fd_close', -1), Errno.BADF);
    },
    { pages: 32769 },
  ));
