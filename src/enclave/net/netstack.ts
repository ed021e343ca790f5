/**
 * The enclave's network: lwIP behind the WireGuard device, datagrams through a `DatagramPort` (the
 * two host calls). It is driven synchronously by the program's socket calls: a call that has to
 * wait pumps the network (takes datagrams from the host, waiting at most until the next timer of
 * lwIP or WireGuard, all on the enclave's monotonic clock) until its condition holds. Outbound
 * datagrams are gathered and handed to the host when a batch is full, when the stack is pumped
 * (before any wait, and after taking what arrived), when they have waited OUTBOX_AGE_MS by the
 * next call of the program, and at the end of the run (`flush`): one host call per batch rather
 * than one per socket call.
 */
import {
  DATAGRAM_BATCH_BYTES,
  MAX_BATCH,
  entrySize,
  type OuterDatagram,
} from '../../interface/net-datagrams.ts';
import { Errno, WasiError } from '../../interface/errno.ts';
import type { DatagramPort } from './host-datagrams.ts';
import { HostTable } from './hosts.ts';
import { LwipStack, type Endpoint, type LwipModule } from './lwip.ts';
import { WireGuardDevice, type PeerConfig, type WireGuardClock } from './wireguard/device.ts';

/** WireGuard's timers are in seconds; this is how often they are looked at. */
const WG_TICK_MS = 100;
/** Longest single wait for datagrams before timers are looked at again. */
const MAX_WAIT_MS = 250;
const RECEIVE_BATCH = 64;
/**
 * Outside socket calls the network is pumped (without waiting) at most this often: a program that
 * computes between other calls still answers its peers (ACKs, window updates, timers, keepalives).
 * The cost is a clock read per call, and at most one receive call to the host per period.
 */
export const BACKGROUND_PUMP_MS = 10;
/** Datagrams waiting this long are handed over at the program's next call, whatever it is. */
export const OUTBOX_AGE_MS = 1;

/** What the stack knows about one TCP connection, from lwIP's events. */
export interface ConnState {
  eof: boolean;
  /** A WASI errno once the connection failed (reset, aborted). */
  error: number;
  /** For outbound connections: established yet. */
  connected: boolean;
  /** The send buffer took less than offered; cleared when lwIP reports data acknowledged. */
  sendFull: boolean;
  /** For accepted connections: the client's end, and the address it connected to. */
  peer?: Endpoint;
  local?: Endpoint;
}

export interface NetStackOptions {
  lwip: LwipModule | Uint8Array;
  privateKey: Uint8Array;
  peers: PeerConfig[];
  address: string;
  prefix: number;
  mtu: number;
  port: DatagramPort;
  clock: WireGuardClock;
  random32?: () => number;
  /** Names programs can resolve (the configuration's [Hosts]). */
  hosts?: HostTable;
}

export class NetStack {
  readonly device: WireGuardDevice;
  readonly stack: LwipStack;
  /** The interface's (tunnel) address. */
  readonly address: string;
  readonly hosts: HostTable;
  readonly #port: DatagramPort;
  readonly #clock: WireGuardClock;
  #outbox: OuterDatagram[] = [];
  /** Bytes of the outbox as batch entries, and when its oldest datagram was queued. */
  #outboxBytes = 0;
  #outboxSince = 0;
  /** Inner packets of the datagrams received in one step: lwIP takes them as one batch. */
  #inbox: Uint8Array[] = [];
  #nextWgTick = 0;
  #lastPump = -Infinity;
  #progress = 0;
  /** Set for a threaded program: waits go back to the calling thread (see `handWaitsBack`). */
  #handBack: ((ms: number) => never) | undefined;
  readonly #conns = new Map<number, ConnState>();
  readonly #acceptQueues = new Map<number, number[]>();

  constructor(options: NetStackOptions) {
    this.#port = options.port;
    this.address = options.address;
    this.hosts = options.hosts ?? new HostTable();
    this.#clock = options.clock;
    this.device = new WireGuardDevice({
      privateKey: options.privateKey,
      clock: options.clock,
      transmit: (datagram, to) => this.#queue({ data: datagram, address: to.address, port: to.port }),
      deliver: (packet) => this.#inbox.push(packet),
    });
    for (const peer of options.peers) this.device.addPeer(peer);
    this.stack = new LwipStack({
      wasm: options.lwip,
      nowMs: () => options.clock.nowMs(),
      output: (packet) => this.device.send(packet),
      random32: options.random32,
    });
    this.stack.up({ address: options.address, prefix: options.prefix, mtu: options.mtu });
  }

  /**
   * For a threaded program, whose kernel owns this stack and must never wait: a call that would
   * wait pumps once without waiting and calls `handBack(ms)`, which throws (the calling thread
   * waits until the network moves, the kernel pumps with `step`, the call is made again).
   */
  handWaitsBack(handBack: (ms: number) => never): void {
    this.#handBack = handBack;
  }

  /** Changes whenever datagrams arrived or lwIP reported events: what a waiting call looks at may have changed. */
  get progress(): number {
    return this.#progress;
  }

  /** Runs `step` on the stack, then takes its events; what it produced goes out with the next batch. */
  run<T>(step: (stack: LwipStack) => T): T {
    try {
      return step(this.stack);
    } finally {
      this.#settle(false);
    }
  }

  /** Hands every queued datagram to the host (the program is about to wait, or the run ends). */
  flush(): void {
    this.#settle(true);
  }

  listen(address: string, port: number): number {
    const id = this.run((s) => s.tcpListen(address, port));
    this.#acceptQueues.set(id, []);
    return id;
  }

  connect(address: string, port: number): number {
    const id = this.run((s) => s.tcpConnect(address, port));
    this.#conns.set(id, { eof: false, error: 0, connected: false, sendFull: false });
    return id;
  }

  /** The next accepted connection of a listener, or undefined when none waits. */
  takeAccepted(listener: number): number | undefined {
    return this.#acceptQueues.get(listener)?.shift();
  }

  pendingAccepts(listener: number): number {
    return this.#acceptQueues.get(listener)?.length ?? 0;
  }

  conn(id: number): ConnState {
    const state = this.#conns.get(id);
    if (!state) throw new WasiError(Errno.BADF, `net: no connection ${id}`);
    return state;
  }

  /** Releases a connection or listener (a connection still open is closed gracefully). */
  close(id: number): void {
    this.#conns.delete(id);
    const queue = this.#acceptQueues.get(id);
    this.#acceptQueues.delete(id);
    this.run((s) => {
      for (const conn of queue ?? []) s.tcpClose(conn);
      s.tcpClose(id);
    });
  }

  /**
   * Pumps the network until `ready()` holds or `timeoutMs` has passed (Infinity: no limit).
   * Returns whether it holds.
   */
  waitUntil(ready: () => boolean, timeoutMs = Infinity): boolean {
    const deadline = this.#clock.nowMs() + timeoutMs;
    for (;;) {
      if (ready()) return true;
      const left = deadline - this.#clock.nowMs();
      if (left <= 0) return false;
      this.pump(Math.min(left, MAX_WAIT_MS));
    }
  }

  /**
   * Before a call of the program: pumps without waiting when the last pump is BACKGROUND_PUMP_MS or
   * more ago, else hands over datagrams that have waited OUTBOX_AGE_MS.
   */
  pumpIfDue(): void {
    const now = this.#clock.nowMs();
    if (now - this.#lastPump >= BACKGROUND_PUMP_MS) this.pump(0);
    else if (this.#outbox.length > 0 && now - this.#outboxSince >= OUTBOX_AGE_MS) this.flush();
  }

  /** Sleeps `ns` (a program's sleep) with the network pumped meanwhile. */
  sleep(ns: bigint): void {
    this.waitUntil(() => false, Number(ns) / 1e6);
  }

  /**
   * Waits on the network up to `waitMs`: one step (see `step`), or, when waits are handed back, a
   * step without waiting and then the hand-back. (The thread's wait ends at once when that step
   * moved the network: one call never loops on the stack while other threads wait for news.)
   */
  pump(waitMs: number): void {
    if (this.#handBack === undefined || waitMs <= 0) {
      this.step(waitMs);
      return;
    }
    this.step(0);
    this.#handBack(waitMs);
  }

  /** One step: waits for datagrams (at most `waitMs`, less when a timer is due), feeds them in, runs the timers. */
  step(waitMs: number): void {
    this.#settle(true);
    const now = this.#clock.nowMs();
    const wait = Math.max(0, Math.min(waitMs, this.stack.sleepTime(), this.#nextWgTick - now));
    const datagrams = this.#port.receive(BigInt(Math.floor(wait * 1e6)), RECEIVE_BATCH);
    if (datagrams.length > 0) this.#progress++;
    for (const d of datagrams) this.device.receive(d.data, { address: d.address, port: d.port });
    const packets = this.#inbox;
    this.#inbox = [];
    this.stack.inputBatch(packets);
    this.#takeEvents();
    this.stack.tick();
    if (this.#clock.nowMs() >= this.#nextWgTick) {
      this.device.tick();
      this.#nextWgTick = this.#clock.nowMs() + WG_TICK_MS;
    }
    this.#settle(true);
    this.#lastPump = this.#clock.nowMs();
  }

  /** Queues an outbound datagram; a full batch goes to the host first (a host call, not lwIP re-entered). */
  #queue(datagram: OuterDatagram): void {
    const size = entrySize(datagram);
    if (this.#outboxBytes + size > DATAGRAM_BATCH_BYTES || this.#outbox.length >= MAX_BATCH)
      this.#sendOutbox();
    if (this.#outbox.length === 0) this.#outboxSince = this.#clock.nowMs();
    this.#outbox.push(datagram);
    this.#outboxBytes += size;
  }

  #sendOutbox(): void {
    const out = this.#outbox;
    this.#outbox = [];
    this.#outboxBytes = 0;
    this.#port.send(out);
  }

  /** Takes lwIP's events (handling them can make output); with `all`, sends the outbox. */
  #settle(all: boolean): void {
    this.#takeEvents();
    if (all && this.#outbox.length > 0) this.#sendOutbox();
  }

  #takeEvents(): void {
    const events = this.stack.takeEvents();
    if (events.length > 0) this.#progress++;
    for (const e of events) {
      switch (e.kind) {
        case 'accept': {
          this.#conns.set(e.conn, {
            eof: false,
            error: 0,
            connected: true,
            sendFull: false,
            peer: e.peer,
            local: e.local,
          });
          const queue = this.#acceptQueues.get(e.listener);
          if (queue) queue.push(e.conn);
          else this.stack.tcpClose(e.conn);
          break;
        }
        case 'connected': {
          const c = this.#conns.get(e.conn);
          if (c) {
            c.connected = e.errno === 0;
            c.error = e.errno;
          }
          break;
        }
        case 'eof': {
          const c = this.#conns.get(e.conn);
          if (c) c.eof = true;
          break;
        }
        case 'sent': {
          const c = this.#conns.get(e.conn);
          if (c) c.sendFull = false;
          break;
        }
        case 'error': {
          const c = this.#conns.get(e.conn);
          if (c) c.error = e.errno || Errno.CONNRESET;
          break;
        }
        default:
          break;
      }
    }
  }
}
