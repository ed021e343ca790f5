/**
 * `poll_oneoff`: clock subscriptions (relative or absolute, on any clock) and fd_read / fd_write
 * readiness. Regular files and the console's output are always ready; stdin and sockets can block:
 * waiting for stdin goes through `ConsoleCalls.pollStdin`, waiting for a socket pumps the network. With nothing to watch but clocks, the
 * calling thread sleeps (`WasiContext.sleep`). Relative timeouts count from the call's first
 * attempt (`callElapsedNs`), so a call retried after its thread waited still ends on time.
 */
import { Errno, WasiError } from '../../../interface/errno.ts';
import type { WasiContext } from '../context.ts';
import type { Fd, Readiness } from '../fd.ts';
import { now } from './clock.ts';
import {
  ClockId,
  Event,
  EVENTRW_HANGUP,
  EventType,
  Rights,
  SUBCLOCK_ABSTIME,
  Subscription,
} from './layout.ts';

/** Longest single wait on stdin before clocks are looked at again. */
const STDIN_SLICE_NS = 50_000_000n;
/** Longest single wait on the network (sockets) before every subscription is looked at again. */
const NET_SLICE_NS = 50_000_000n;

/**
 * A socket: waiting on it pumps the enclave's network (src/enclave/net/netstack.ts), which every
 * socket shares, so waiting on one socket moves them all (stdin is then only looked at, not waited on).
 */
interface NetWaiter {
  waitNetwork(timeoutNs: bigint): void;
}

function isNetWaiter(fd: Fd): fd is Fd & NetWaiter {
  return typeof (fd as Partial<NetWaiter>).waitNetwork === 'function';
}

interface ClockSub {
  userdata: bigint;
  /** Monotonic deadline. */
  deadline: bigint;
}

interface FdSub {
  userdata: bigint;
  type: number;
  fd: Fd;
}

interface PollEvent {
  userdata: bigint;
  error: number;
  type: number;
  readiness: Readiness | null;
}

export function poll_oneoff(
  ctx: WasiContext,
  inPtr: number,
  outPtr: number,
  nsubs: number,
  neventsPtr: number,
): number {
  if (nsubs === 0) throw new WasiError(Errno.INVAL);
  const v = ctx.memory.view();
  const clocks: ClockSub[] = [];
  const fds: FdSub[] = [];
  const events: PollEvent[] = [];
  const monoNow = ctx.clock.monotonicNs();
  const callStart = monoNow - ctx.callElapsedNs;

  for (let i = 0; i < nsubs; i++) {
    const p = inPtr + i * Subscription.SIZE;
    const userdata = v.getBigUint64(p + Subscription.USERDATA, true);
    const type = v.getUint8(p + Subscription.TAG);
    if (type === EventType.CLOCK) {
      const id = v.getUint32(p + Subscription.CLOCK_ID, true);
      const timeout = v.getBigUint64(p + Subscription.CLOCK_TIMEOUT, true);
      const flags = v.getUint16(p + Subscription.CLOCK_FLAGS, true);
      if (id > ClockId.THREAD_CPUTIME) {
        events.push({ userdata, error: Errno.INVAL, type, readiness: null });
        continue;
      }
      const deadline = flags & SUBCLOCK_ABSTIME ? monoNow + (timeout - now(ctx, id)) : callStart + timeout;
      clocks.push({ userdata, deadline });
    } else if (type === EventType.FD_READ || type === EventType.FD_WRITE) {
      const fdNum = v.getUint32(p + Subscription.FD, true);
      try {
        fds.push({ userdata, type, fd: ctx.fds.get(fdNum, Rights.POLL_FD_READWRITE) });
      } catch (e) {
        if (!(e instanceof WasiError)) throw e;
        events.push({ userdata, error: e.errno, type, readiness: null });
      }
    } else {
      throw new WasiError(Errno.INVAL);
    }
  }

  for (;;) {
    let stdinWaiter: Fd | null = null;
    let netWaiter: NetWaiter | null = null;
    for (const sub of fds) {
      const readiness = sub.type === EventType.FD_READ ? sub.fd.pollRead(0n) : sub.fd.pollWrite();
      if (readiness.ready) events.push({ userdata: sub.userdata, error: 0, type: sub.type, readiness });
      else if (isNetWaiter(sub.fd)) netWaiter = sub.fd;
      else if (sub.type === EventType.FD_READ) stdinWaiter = sub.fd;
    }
    const t = ctx.clock.monotonicNs();
    let nearest: bigint | null = null;
    for (const c of clocks) {
      if (c.deadline <= t) {
        events.push({ userdata: c.userdata, error: 0, type: EventType.CLOCK, readiness: null });
      } else if (nearest === null || c.deadline < nearest) {
        nearest = c.deadline;
      }
    }
    if (events.length > 0) break;
    const wait = nearest === null ? STDIN_SLICE_NS : nearest - t;
    if (netWaiter !== null) netWaiter.waitNetwork(wait < NET_SLICE_NS ? wait : NET_SLICE_NS);
    else if (stdinWaiter !== null) stdinWaiter.pollRead(wait < STDIN_SLICE_NS ? wait : STDIN_SLICE_NS);
    else if (nearest !== null) ctx.sleep(wait);
    else throw new WasiError(Errno.NOTSUP, 'poll_oneoff would wait forever');
  }

  const n = Math.min(events.length, nsubs);
  const out = ctx.memory.view();
  for (let i = 0; i < n; i++) {
    const e = events[i];
    const p = outPtr + i * Event.SIZE;
    out.setBigUint64(p + Event.USERDATA, e.userdata, true);
    out.setUint16(p + Event.ERROR, e.error, true);
    out.setUint8(p + Event.TYPE, e.type);
    out.setUint8(p + Event.TYPE + 1, 0);
    out.setUint32(p + 12, 0, true);
    out.setBigUint64(p + Event.NBYTES, e.readiness?.nbytes ?? 0n, true);
    out.setUint16(p + Event.FLAGS, e.readiness?.hangup ? EVENTRW_HANGUP : 0, true);
    out.setUint16(p + Event.FLAGS + 2, 0, true);
    out.setUint32(p + Event.FLAGS + 4, 0, true);
  }
  ctx.memory.view().setUint32(neventsPtr, n, true);
  return 0;
}
