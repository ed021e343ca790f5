/** poll_oneoff: clocks (relative, absolute), file and console readiness, bad subscriptions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errno } from '../../src/interface/errno.ts';
import type { ConsoleCalls } from '../../src/interface/services.ts';
import { createTmpfs } from '../../src/enclave/vfs/index.ts';
import { FIRST_PREOPEN as ROOT, Guest } from './helpers/guest.ts';
import { hostClock } from './helpers/run.ts';

const CLOCK = 0;
const FD_READ = 1;
const FD_WRITE = 2;
const REALTIME = 0;
const MONOTONIC = 1;
const ABSTIME = 1;

type Sub = {
  userdata: bigint;
  clock?: { id: number; timeout: bigint; flags?: number };
  fd?: number;
  type?: number;
};

/** Writes the subscriptions, polls, and returns [errno, events]. */
function poll(
  g: Guest,
  subs: Sub[],
): [number, { userdata: bigint; error: number; type: number; nbytes: bigint }[]] {
  const inPtr = g.alloc(48 * subs.length);
  const outPtr = g.alloc(32 * subs.length);
  const nevents = g.alloc(4);
  const v = g.view;
  subs.forEach((s, i) => {
    const p = inPtr + 48 * i;
    v.setBigUint64(p, s.userdata, true);
    if (s.clock) {
      v.setUint8(p + 8, CLOCK);
      v.setUint32(p + 16, s.clock.id, true);
      v.setBigUint64(p + 24, s.clock.timeout, true);
      v.setBigUint64(p + 32, 0n, true);
      v.setUint16(p + 40, s.clock.flags ?? 0, true);
    } else {
      v.setUint8(p + 8, s.type ?? FD_READ);
      v.setUint32(p + 16, s.fd ?? 0, true);
    }
  });
  const errno = g.call('poll_oneoff', inPtr, outPtr, subs.length, nevents);
  const events = [];
  for (let i = 0; i < (errno === 0 ? g.u32(nevents) : 0); i++) {
    const p = outPtr + 32 * i;
    events.push({
      userdata: g.u64(p),
      error: g.view.getUint16(p + 8, true),
      type: g.view.getUint8(p + 10),
      nbytes: g.u64(p + 16),
    });
  }
  return [errno, events];
}

const elapsedMs = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

test('a relative monotonic clock sleeps at least its timeout', () => {
  const g = new Guest();
  g.run(() => {
    const t0 = process.hrtime.bigint();
    const [errno, events] = poll(g, [{ userdata: 42n, clock: { id: MONOTONIC, timeout: 30_000_000n } }]);
    assert.equal(errno, 0);
    assert.ok(elapsedMs(t0) >= 29, `slept ${elapsedMs(t0)} ms`);
    assert.deepEqual(events, [{ userdata: 42n, error: 0, type: CLOCK, nbytes: 0n }]);
  });
});

test('an absolute realtime deadline in the past fires at once; the earliest clock wins', () => {
  const g = new Guest();
  g.run(() => {
    const past = hostClock.realtimeNs() - 1_000_000_000n;
    const t0 = process.hrtime.bigint();
    const [, events] = poll(g, [
      { userdata: 1n, clock: { id: MONOTONIC, timeout: 5_000_000_000n } },
      { userdata: 2n, clock: { id: REALTIME, timeout: past, flags: ABSTIME } },
    ]);
    assert.ok(elapsedMs(t0) < 1000);
    assert.deepEqual(
      events.map((e) => e.userdata),
      [2n],
    );
    const soon = hostClock.realtimeNs() + 20_000_000n;
    const [, later] = poll(g, [{ userdata: 3n, clock: { id: REALTIME, timeout: soon, flags: ABSTIME } }]);
    assert.ok(hostClock.realtimeNs() >= soon - 2_000_000n);
    assert.equal(later[0].userdata, 3n);
  });
});

test('regular files are ready with the bytes left; stdout is writable; bad fds report BADF', () => {
  const g = new Guest({ preopens: [{ guestPath: '/', fs: createTmpfs() }] });
  g.run(() => {
    const [, fd] = g.open(ROOT, 'f', { oflags: 1 });
    g.write(fd, '0123456789');
    const seek = g.alloc(8);
    g.call('fd_seek', fd, 4n, 0, seek);
    const [errno, events] = poll(g, [
      { userdata: 1n, fd, type: FD_READ },
      { userdata: 2n, fd: 1, type: FD_WRITE },
      { userdata: 3n, fd: 99, type: FD_READ },
      { userdata: 4n, clock: { id: MONOTONIC, timeout: 10_000_000_000n } },
    ]);
    assert.equal(errno, 0);
    assert.deepEqual(events, [
      { userdata: 3n, error: Errno.BADF, type: FD_READ, nbytes: 0n },
      { userdata: 1n, error: 0, type: FD_READ, nbytes: 6n },
      { userdata: 2n, error: 0, type: FD_WRITE, nbytes: 0n },
    ]);
  });
});

test('stdin readiness comes from ConsoleCalls.pollStdin, waited for up to the clock', () => {
  const waits: bigint[] = [];
  let ready = false;
  const console: ConsoleCalls = {
    write: () => {},
    readStdin: () => new Uint8Array(0),
    pollStdin: (timeoutNs) => {
      waits.push(timeoutNs);
      return ready;
    },
  };
  const g = new Guest({ console });
  g.run(() => {
    const [, timedOut] = poll(g, [
      { userdata: 1n, fd: 0, type: FD_READ },
      { userdata: 2n, clock: { id: MONOTONIC, timeout: 20_000_000n } },
    ]);
    assert.deepEqual(
      timedOut.map((e) => e.userdata),
      [2n],
    );
    assert.ok(
      waits.some((t) => t > 0n),
      'waited inside pollStdin rather than spinning',
    );
    ready = true;
    const [, events] = poll(g, [{ userdata: 7n, fd: 0, type: FD_READ }]);
    assert.deepEqual(
      events.map((e) => [e.userdata, e.error]),
      [[7n, 0]],
    );
  });
});

test('no subscriptions is INVAL; an unknown clock is reported on its event', () => {
  const g = new Guest();
  g.run(() => {
    assert.equal(poll(g, [])[0], Errno.INVAL);
    const [errno, events] = poll(g, [{ userdata: 9n, clock: { id: 17, timeout: 0n } }]);
    assert.equal(errno, 0);
    assert.deepEqual(
      events.map((e) => [e.userdata, e.error]),
      [[9n, Errno.INVAL]],
    );
  });
});
