/**
 * lwIP (lwip.wasm, built by native/lwip/build.sh) behind a typed, synchronous API: one IPv4 interface
 * whose packets the embedder carries (into the WireGuard tunnel), TCP and UDP sockets, and timers
 * driven from the enclave's monotonic clock. Every length crossing into the module is checked here
 * first; lwIP itself checks every inbound packet and drops (and counts) bad ones.
 */
import { Errno, WasiError, errnoName } from '../../interface/errno.ts';
import { wasmApi } from '../../common/wasm-api.ts';
import { formatIPv4, parseIPv4, prefixMask } from './ipv4.ts';

/** The compiled lwip.wasm, as returned by {@link compileLwip}. */
export type LwipModule = { readonly __brand: 'LwipModule' };

/** Compiles lwip.wasm once; each {@link LwipStack} instantiates it anew. */
export function compileLwip(wasmBytes: Uint8Array): LwipModule {
  return new wasmApi.Module(wasmBytes) as LwipModule;
}

/** What the stack reports after a call; the embedder acts on these once the call has returned. */
export type NetEvent =
  | { kind: 'accept'; listener: number; conn: number; peer?: Endpoint; local?: Endpoint }
  | { kind: 'connected'; conn: number; errno: number }
  | { kind: 'readable'; conn: number; pending: number }
  | { kind: 'eof'; conn: number }
  | { kind: 'sent'; conn: number; sendBuffer: number }
  | { kind: 'error'; conn: number; errno: number }
  | { kind: 'datagram'; socket: number; queued: number };

/** An IPv4 address and port. */
export interface Endpoint {
  address: string;
  port: number;
}

export interface Datagram {
  data: Uint8Array;
  address: string;
  port: number;
}

/** Counters of packets lwIP or the glue dropped, by reason. */
export interface LwipStats {
  ipReceived: number;
  ipSent: number;
  ipDropped: number;
  ipChecksumErrors: number;
  ipLengthErrors: number;
  ipProtocolErrors: number;
  tcpReceived: number;
  tcpDropped: number;
  tcpChecksumErrors: number;
  udpDropped: number;
  udpChecksumErrors: number;
  icmpReceived: number;
  icmpSent: number;
  icmpDropped: number;
  icmpChecksumErrors: number;
  inputRejected: number;
  udpQueueDropped: number;
  outputOversized: number;
  memoryErrors: number;
}

const STAT_INDEX: Record<keyof LwipStats, number> = {
  ipReceived: 0,
  ipDropped: 1,
  ipChecksumErrors: 2,
  ipLengthErrors: 3,
  ipProtocolErrors: 4,
  tcpReceived: 5,
  tcpDropped: 6,
  tcpChecksumErrors: 7,
  udpDropped: 8,
  udpChecksumErrors: 9,
  icmpReceived: 10,
  icmpSent: 11,
  icmpDropped: 12,
  inputRejected: 13,
  udpQueueDropped: 14,
  outputOversized: 15,
  memoryErrors: 16,
  ipSent: 17,
  icmpChecksumErrors: 18,
};

export interface LwipOptions {
  /** lwip.wasm: its bytes, or a module compiled with {@link compileLwip}. */
  wasm: Uint8Array | LwipModule;
  /** Monotonic milliseconds (the enclave's clock); lwIP's timers run on it. */
  nowMs: () => number;
  /**
   * Called with each outbound IP packet: a view into lwIP's memory, valid only during the call
   * (the callee seals it at once, or copies it to keep it).
   */
  output: (packet: Uint8Array) => void;
  /** 32 random bits for initial sequence numbers and ephemeral ports; defaults to crypto.getRandomValues. */
  random32?: () => number;
}

export interface InterfaceConfig {
  address: string;
  /** Prefix length of the interface's network (0..32). */
  prefix: number;
  /** The tunnel's MTU; TCP's MSS is fitted to it (MTU - 40). */
  mtu: number;
}

type Fn = (...args: number[]) => number;

const MAX_PACKET = 65535;

function defaultRandom32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

function address(text: string, what: string): number {
  const value = parseIPv4(text);
  if (value === undefined)
    throw new WasiError(Errno.INVAL, `lwip: ${what} ${JSON.stringify(text)} is not an IPv4 address`);
  return value;
}

function port(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 65535)
    throw new WasiError(Errno.INVAL, `lwip: ${what} ${value} is not a port number`);
  return value;
}

/**
 * The two ends of the TCP segment in an IPv4 packet. lwIP calls its accept callback only while it
 * processes the segment that completes the handshake (the client's ACK, in tcp_process), so that
 * segment's source is the new connection's peer and its destination the connection's local end: the
 * glue need not report them. Undefined unless lwIP is inside cl_input with a TCP packet.
 */
function segmentEnds(packet: Uint8Array | undefined): { peer?: Endpoint; local?: Endpoint } {
  if (!packet || packet.length < 20 || packet[0]! >> 4 !== 4 || packet[9] !== 6) return {};
  const ihl = (packet[0]! & 15) * 4;
  if (packet.length < ihl + 4) return {};
  const v = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  return {
    peer: { address: formatIPv4(v.getUint32(12)), port: v.getUint16(ihl) },
    local: { address: formatIPv4(v.getUint32(16)), port: v.getUint16(ihl + 2) },
  };
}

/** One lwIP instance: one interface, its sockets and timers. Not reentrant (as the enclave is not). */
export class LwipStack {
  readonly #memory: { buffer: ArrayBuffer };
  readonly #fn: Record<string, Fn>;
  readonly #io: number;
  readonly #ioSize: number;
  #events: NetEvent[] = [];
  /** A view of the module's memory, renewed when growing the memory detached the old one. */
  #view = new Uint8Array(0);
  /** The packet cl_input is working on (accept events take the connection's ends from it). */
  #inbound: Uint8Array | undefined;

  constructor(options: LwipOptions) {
    const module = options.wasm instanceof Uint8Array ? compileLwip(options.wasm) : options.wasm;
    const random32 = options.random32 ?? defaultRandom32;
    const imports = {
      cloister_net: {
        now_ms: () => Math.floor(options.nowMs()) >>> 0,
        random32: () => random32() >>> 0,
        output: (ptr: number, len: number) => {
          options.output(this.#bytes().subarray(ptr, ptr + len));
        },
        event: (kind: number, id: number, arg: number) => this.#record(kind, id, arg),
        assert_failed: (message: number, file: number, line: number) => {
          throw new Error(
            `lwip: assertion failed at ${this.#cString(file)}:${line}: ${this.#cString(message)}`,
          );
        },
      },
    };
    const instance = new wasmApi.Instance(module, imports);
    this.#memory = instance.exports.memory as { buffer: ArrayBuffer };
    this.#fn = instance.exports as Record<string, Fn>;
    this.#fn._initialize!();
    this.#fn.cl_init!();
    this.#io = this.#fn.cl_io_buffer!();
    this.#ioSize = this.#fn.cl_io_size!();
  }

  /** Brings the interface up. Packets to other addresses are routed to it too (it is the only one). */
  up(config: InterfaceConfig): void {
    const ip = address(config.address, 'interface address');
    if (!Number.isInteger(config.prefix) || config.prefix < 0 || config.prefix > 32)
      throw new WasiError(Errno.INVAL, `lwip: prefix length ${config.prefix} is not 0..32`);
    if (!Number.isInteger(config.mtu) || config.mtu < 576 || config.mtu > MAX_PACKET)
      throw new WasiError(Errno.INVAL, `lwip: MTU ${config.mtu} is not 576..65535`);
    this.#check(this.#fn.cl_netif_up!(ip, prefixMask(config.prefix), 0, config.mtu), 'interface up');
  }

  /** Feeds one inbound IP packet. Returns false when it was refused before lwIP saw it (size, memory). */
  input(packet: Uint8Array): boolean {
    if (packet.length === 0 || packet.length > MAX_PACKET) {
      this.#fn.cl_input!(0); // counted as rejected by the glue
      return false;
    }
    this.#bytes().set(packet, this.#io);
    this.#inbound = packet;
    let rc: number;
    try {
      rc = this.#fn.cl_input!(packet.length);
    } finally {
      this.#inbound = undefined;
    }
    if (rc === -Errno.NOTCONN) throw new WasiError(Errno.NOTCONN, 'lwip: the interface is not up');
    return rc === 0;
  }

  /**
   * Feeds the inbound IP packets of one batch (the datagrams of one receive from the host). The
   * pure ACKs lwIP answers them with are thinned: a later one of the same connection replaces an
   * earlier one, up to eight in one, and the last goes out when the batch ends (glue.c, ACK thinning).
   */
  inputBatch(packets: readonly Uint8Array[]): void {
    if (packets.length === 0) return;
    this.#fn.cl_batch!(1);
    try {
      for (const packet of packets) this.input(packet);
    } finally {
      this.#fn.cl_batch!(0);
    }
  }

  /** Runs the timers that are due (TCP retransmission, delayed ACKs, keepalives). */
  tick(): void {
    this.#fn.cl_tick!();
  }

  /** Milliseconds until the next timer is due. */
  sleepTime(): number {
    return this.#fn.cl_sleeptime!() >>> 0;
  }

  /** The events recorded since the last call, oldest first. */
  takeEvents(): NetEvent[] {
    const events = this.#events;
    this.#events = [];
    return events;
  }

  stats(): LwipStats {
    const out = {} as LwipStats;
    for (const [name, index] of Object.entries(STAT_INDEX))
      out[name as keyof LwipStats] = this.#fn.cl_stat!(index) >>> 0;
    return out;
  }

  tcpListen(localAddress: string, localPort: number): number {
    return this.#check(
      this.#fn.cl_tcp_listen!(address(localAddress, 'listen address'), port(localPort, 'port')),
      'listen',
    );
  }

  /** Starts a connection; a `connected` event (errno 0) tells when it is established. */
  tcpConnect(remoteAddress: string, remotePort: number): number {
    if (remotePort === 0) throw new WasiError(Errno.INVAL, 'lwip: port 0 is not a destination');
    return this.#check(
      this.#fn.cl_tcp_connect!(address(remoteAddress, 'remote address'), port(remotePort, 'port')),
      'connect',
    );
  }

  tcpLocalPort(id: number): number {
    return this.#check(this.#fn.cl_tcp_local_port!(id), 'local port');
  }

  /** The maximum segment size the connection sends with. */
  tcpMss(id: number): number {
    return this.#check(this.#fn.cl_tcp_mss!(id), 'mss');
  }

  /** Queues as much of `data` as the send buffer takes; returns the byte count (0: wait for `sent`). */
  tcpSend(id: number, data: Uint8Array): number {
    let taken = 0;
    while (taken < data.length) {
      const chunk = data.subarray(taken, taken + this.#ioSize);
      this.#bytes().set(chunk, this.#io);
      const n = this.#check(this.#fn.cl_tcp_send!(id, chunk.length), 'send');
      if (n > chunk.length) throw new Error(`lwip: send took ${n} of ${chunk.length} bytes`);
      taken += n;
      if (n < chunk.length) break;
    }
    return taken;
  }

  /** Reads up to `max` received bytes (empty: none yet, or end of stream after an `eof` event). */
  tcpRecv(id: number, max = this.#ioSize): Uint8Array {
    const want = Math.min(Math.max(0, Math.floor(max)), this.#ioSize);
    const n = this.#check(this.#fn.cl_tcp_recv!(id, want), 'recv');
    if (n > want) throw new Error(`lwip: recv returned ${n} bytes for ${want}`);
    return this.#bytes().slice(this.#io, this.#io + n);
  }

  /** Bytes received and not yet read. */
  tcpPending(id: number): number {
    return this.#check(this.#fn.cl_tcp_pending!(id), 'pending');
  }

  /** Sends FIN: no more data from this side. */
  tcpShutdown(id: number): void {
    this.#check(this.#fn.cl_tcp_shutdown!(id), 'shutdown');
  }

  /** Releases a connection or listener id (a live connection is closed gracefully). */
  tcpClose(id: number): void {
    this.#check(this.#fn.cl_tcp_close!(id), 'close');
  }

  udpBind(localAddress: string, localPort: number): number {
    return this.#check(
      this.#fn.cl_udp_bind!(address(localAddress, 'bind address'), port(localPort, 'port')),
      'bind',
    );
  }

  udpLocalPort(id: number): number {
    return this.#check(this.#fn.cl_udp_local_port!(id), 'local port');
  }

  udpSendTo(id: number, data: Uint8Array, remoteAddress: string, remotePort: number): void {
    if (data.length > this.#ioSize)
      throw new WasiError(Errno.MSGSIZE, `lwip: a ${data.length}-byte datagram does not fit`);
    const ip = address(remoteAddress, 'remote address');
    port(remotePort, 'port');
    this.#bytes().set(data, this.#io);
    this.#check(this.#fn.cl_udp_sendto!(id, data.length, ip, remotePort), 'sendto');
  }

  /** The oldest queued datagram, or undefined when none is queued. */
  udpRecv(id: number): Datagram | undefined {
    const n = this.#fn.cl_udp_recv!(id);
    if (n === -Errno.AGAIN) return undefined;
    this.#check(n, 'recvfrom');
    if (n > this.#ioSize) throw new Error(`lwip: datagram of ${n} bytes`);
    const data = this.#bytes().slice(this.#io, this.#io + n);
    const meta = new DataView(this.#memory.buffer, this.#fn.cl_udp_meta!(), 8);
    return { data, address: formatIPv4(meta.getUint32(0, true)), port: meta.getUint32(4, true) };
  }

  udpClose(id: number): void {
    this.#check(this.#fn.cl_udp_close!(id), 'close');
  }

  #record(kind: number, id: number, arg: number): void {
    const last = this.#events[this.#events.length - 1];
    // Bulk data brings a readable event per segment and a sent event per ACK: the latest figure of
    // the same connection replaces the one before it, so the queue does not grow with the traffic.
    if (last && last.kind === 'readable' && kind === 3 && last.conn === id) return void (last.pending = arg);
    if (last && last.kind === 'sent' && kind === 5 && last.conn === id) return void (last.sendBuffer = arg);
    switch (kind) {
      case 1:
        this.#events.push({ kind: 'accept', listener: id, conn: arg, ...segmentEnds(this.#inbound) });
        break;
      case 2:
        this.#events.push({ kind: 'connected', conn: id, errno: arg === 0 ? 0 : -arg });
        break;
      case 3:
        this.#events.push({ kind: 'readable', conn: id, pending: arg });
        break;
      case 4:
        this.#events.push({ kind: 'eof', conn: id });
        break;
      case 5:
        this.#events.push({ kind: 'sent', conn: id, sendBuffer: arg });
        break;
      case 6:
        this.#events.push({ kind: 'error', conn: id, errno: arg === 0 ? 0 : -arg });
        break;
      case 7:
        this.#events.push({ kind: 'datagram', socket: id, queued: arg });
        break;
      default:
        throw new Error(`lwip: unknown event kind ${kind}`);
    }
  }

  #bytes(): Uint8Array {
    // A detached view has length 0; lwIP's heap is static, so this is rare.
    if (this.#view.length === 0) this.#view = new Uint8Array(this.#memory.buffer);
    return this.#view;
  }

  #cString(ptr: number): string {
    const bytes = this.#bytes();
    let end = ptr;
    while (end < bytes.length && end - ptr < 256 && bytes[end] !== 0) end++;
    return new TextDecoder().decode(bytes.subarray(ptr, end));
  }

  #check(rc: number, op: string): number {
    if (rc < 0) throw new WasiError(-rc, `lwip: ${op}: ${errnoName(-rc)}`);
    return rc;
  }
}
