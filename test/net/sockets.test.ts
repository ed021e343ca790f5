/**
 * Socket descriptors and the cloister_sock calls on the real stack: two NetStacks (lwIP behind the
 * TypeScript WireGuard each) joined by an in-memory wire that lets the other side run whenever one
 * side waits for datagrams. Blocking and non-blocking accept, read, write and connect, poll
 * readiness (data, end of stream, hangup), shutdown, close, and the socket module's calls on guest
 * memory with their errors.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Errno, WasiError } from '../../src/interface/errno.ts';
import type { OuterDatagram } from '../../src/interface/net-datagrams.ts';
import type { DatagramPort } from '../../src/enclave/net/host-datagrams.ts';
import { compileLwip } from '../../src/enclave/net/lwip.ts';
import { BACKGROUND_PUMP_MS, NetStack, OUTBOX_AGE_MS } from '../../src/enclave/net/netstack.ts';
import { PEEK_MAX, TcpListenerFd, TcpStreamFd } from '../../src/enclave/net/socket-fd.ts';
import { SOCKET_MODULE, socketCalls } from '../../src/enclave/net/socket-calls.ts';
import { UdpSocketFd } from '../../src/enclave/net/udp-fd.ts';
import { HostTable } from '../../src/enclave/net/hosts.ts';
import { fd_read, fd_write } from '../../src/enclave/libos/wasi/fd.ts';
import { WasiContext } from '../../src/enclave/libos/context.ts';
import { Wasi } from '../../src/enclave/libos/index.ts';
import { FdFlags } from '../../src/enclave/libos/wasi/layout.ts';
import { generatePrivateKey, publicKey } from '../../src/enclave/net/wireguard/crypto.ts';
import { cidr } from './helpers/wg-pair.ts';
import { BlockKind, WouldBlock, waitNetworkInThread } from '../../src/enclave/threads/blocking.ts';

const lwip = compileLwip(readFileSync(new URL('../../src/enclave/net/lwip.wasm', import.meta.url)));
const clock = { nowMs: () => performance.now(), wallMs: () => Date.now() };

/** One side of the in-memory wire; waiting on it runs the other side once (never recursively). */
class WirePort implements DatagramPort {
  static running = false;
  readonly inbox: OuterDatagram[] = [];
  other!: WirePort;
  stack!: NetStack;
  /** Runs on the other side each time this side waits (a scripted peer). */
  onWait: (() => void) | undefined;
  receives = 0;
  /** Calls of `send` (one host call each in a run) and the datagrams they carried. */
  sends = 0;
  sent = 0;
  constructor(readonly port: number) {}
  send(datagrams: readonly OuterDatagram[]): void {
    this.sends++;
    this.sent += datagrams.length;
    for (const d of datagrams) this.other.inbox.push({ data: d.data, address: '127.0.0.1', port: this.port });
  }
  receive(_waitNs: bigint, max: number): OuterDatagram[] {
    this.receives++;
    if (!WirePort.running) {
      WirePort.running = true;
      try {
        this.other.stack.pump(0);
        this.onWait?.();
      } finally {
        WirePort.running = false;
      }
    }
    return this.inbox.splice(0, max);
  }
}

function pair(hosts?: HostTable): { a: NetStack; b: NetStack; ports: WirePort[] } {
  const keys = [generatePrivateKey(), generatePrivateKey()];
  const ports = [new WirePort(1), new WirePort(2)];
  ports[0]!.other = ports[1]!;
  ports[1]!.other = ports[0]!;
  const stacks = [0, 1].map(
    (i) =>
      new NetStack({
        lwip,
        privateKey: keys[i]!,
        peers: [
          {
            publicKey: publicKey(keys[1 - i]!),
            endpoint: { address: '127.0.0.1', port: 2 - i },
            allowedIPs: [cidr(`10.77.0.${2 - i}/32`)],
          },
        ],
        address: `10.77.0.${i + 1}`,
        prefix: 24,
        mtu: 1420,
        port: ports[i]!,
        clock,
        hosts,
      }),
  );
  ports[0]!.stack = stacks[0]!;
  ports[1]!.stack = stacks[1]!;
  return { a: stacks[0]!, b: stacks[1]!, ports };
}

function errno(f: () => unknown): number {
  try {
    f();
  } catch (error) {
    if (error instanceof WasiError) return error.errno;
    throw error;
  }
  return 0;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('TCP socket descriptors over lwIP and WireGuard', () => {
  it('blocking accept, write, read to end of stream; non-blocking accept and read say AGAIN', () => {
    const { a, b } = pair();
    const listenId = b.listen('0.0.0.0', 80);
    const listener = new TcpListenerFd(b, listenId, FdFlags.NONBLOCK, { address: '0.0.0.0', port: 80 });
    assert.equal(
      errno(() => listener.accept(0)),
      Errno.AGAIN,
      'nothing to accept yet',
    );
    assert.equal(listener.pollRead(0n).ready, false);
    const client = new TcpStreamFd(a, a.connect('10.77.0.2', 80), 0, { address: '10.77.0.2', port: 80 });
    listener.flags = 0;
    const served = listener.accept(FdFlags.NONBLOCK) as TcpStreamFd;
    assert.ok(served instanceof TcpStreamFd);
    assert.equal(served.flags, FdFlags.NONBLOCK);
    assert.equal(
      errno(() => served.read(new Uint8Array(10))),
      Errno.AGAIN,
      'no data yet',
    );
    assert.equal(client.write(text('hello, ')), 7);
    assert.equal(client.send([text('enclave'), text('!')], 0), 8);
    assert.equal(client.pollWrite().ready, true);
    client.shutdown(2); // SHUT_WR: FIN after the data
    const got: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const ready = served.pollRead(10_000_000n);
      if (!ready.ready) continue;
      const buf = new Uint8Array(4);
      const n = served.read(buf);
      if (n === 0) break;
      got.push(...buf.subarray(0, n));
    }
    assert.equal(new TextDecoder().decode(Uint8Array.from(got)), 'hello, enclave!');
    const end = served.pollRead(0n);
    assert.deepEqual([end.ready, end.hangup], [true, true], 'end of stream is readable, with hangup');
    // The other direction still works after the client's FIN.
    served.flags = 0;
    assert.equal(served.write(text('bye')), 3);
    const back = new Uint8Array(16);
    assert.equal(new TextDecoder().decode(back.subarray(0, client.read(back))), 'bye');
    served.close();
    assert.equal(client.read(new Uint8Array(4)), 0, 'end of stream after close');
    client.close();
    listener.close();
  });

  it('a megabyte each way with blocking writes, and recv with MSG_WAITALL', () => {
    const { a, b } = pair();
    const listener = new TcpListenerFd(b, b.listen('0.0.0.0', 81), 0, { address: '0.0.0.0', port: 81 });
    const client = new TcpStreamFd(a, a.connect('10.77.0.2', 81));
    const served = listener.accept(0) as TcpStreamFd;
    const data = crypto.getRandomValues(new Uint8Array(65536));
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < 16; i++) big.set(data, i * 65536);
    // The writer fills the send buffer; the reader runs only when the writer waits: both progress.
    let read = 0;
    const into = new Uint8Array(big.length);
    const reader = (): void => {
      for (let i = 0; i < 10_000 && read < big.length; i++) {
        if (!served.pollRead(0n).ready) break;
        read += served.read(into.subarray(read));
      }
    };
    const chunk = 200_000;
    for (let off = 0; off < big.length; off += chunk) {
      assert.equal(client.write(big.subarray(off, off + chunk)), Math.min(chunk, big.length - off));
      reader();
    }
    for (let i = 0; i < 10_000 && read < big.length; i++) {
      served.pollRead(10_000_000n);
      reader();
    }
    assert.equal(read, big.length);
    assert.deepEqual(into, big);
    assert.equal(served.send([big.subarray(0, 100_000)], 0), 100_000);
    const whole = [new Uint8Array(60_000), new Uint8Array(40_000)];
    const r = client.recv(whole, 2 /* MSG_WAITALL */);
    assert.equal(r.count, 100_000);
    assert.deepEqual(Buffer.concat(whole), Buffer.from(big.subarray(0, 100_000)));
  });

  it('MSG_PEEK shows bytes without taking them: reads, polls and WAITALL peeks see them again', () => {
    const { a, b } = pair();
    const listener = new TcpListenerFd(b, b.listen('0.0.0.0', 82), 0, { address: '0.0.0.0', port: 82 });
    const client = new TcpStreamFd(a, a.connect('10.77.0.2', 82));
    const served = listener.accept(FdFlags.NONBLOCK) as TcpStreamFd;
    const PEEK = 1;
    const WAITALL = 2;
    assert.equal(
      errno(() => served.recv([new Uint8Array(4)], PEEK)),
      Errno.AGAIN,
      'non-blocking peek with nothing received',
    );
    assert.equal(client.write(text('GET / HTTP/1.0')), 14);
    served.flags = 0;
    const first = new Uint8Array(3);
    assert.deepEqual(served.recv([first], PEEK), { count: 3, flags: 0 });
    assert.equal(new TextDecoder().decode(first), 'GET');
    const again = [new Uint8Array(2), new Uint8Array(4)];
    assert.equal(served.recv(again, PEEK).count, 6, 'a second peek starts at the same byte, across buffers');
    assert.equal(new TextDecoder().decode(Buffer.concat(again)), 'GET / ');
    assert.equal(served.pollRead(0n).nbytes, 14n, 'peeked bytes still count as readable');
    // WAITALL: the peek waits until the rest arrives, and still consumes nothing.
    client.write(text('\r\n\r\n'));
    const whole = new Uint8Array(18);
    assert.equal(served.recv([whole], PEEK | WAITALL).count, 18);
    assert.equal(new TextDecoder().decode(whole), 'GET / HTTP/1.0\r\n\r\n');
    const partly = new Uint8Array(5);
    assert.equal(served.read(partly), 5, 'a read takes the peeked bytes first');
    assert.equal(new TextDecoder().decode(partly), 'GET /');
    const rest = new Uint8Array(64);
    const r = served.recv([rest], 0);
    assert.equal(
      new TextDecoder().decode(rest.subarray(0, r.count)),
      ' HTTP/1.0\r\n\r\n',
      'no byte is lost or repeated between peek and read',
    );
    // Big data: a peek sees at most PEEK_MAX bytes; reads then return every byte in order. The
    // receiver reads nothing, so the sender gets past lwIP's window only through what peeks take.
    const big = new Uint8Array(randomBytes(PEEK_MAX + 50_000));
    const window = new Uint8Array(big.length);
    client.flags = FdFlags.NONBLOCK;
    served.flags = FdFlags.NONBLOCK;
    let sent = 0;
    let peeked = 0;
    for (let i = 0; i < 5000 && (sent < big.length || peeked < PEEK_MAX); i++) {
      if (sent < big.length && errno(() => (sent += client.write(big.subarray(sent)))) !== Errno.AGAIN)
        assert.ok(sent <= big.length);
      const e = errno(() => (peeked = served.recv([window], PEEK | WAITALL).count));
      assert.ok(e === 0 || e === Errno.AGAIN, `errno ${e}`);
    }
    assert.equal(sent, big.length);
    assert.equal(peeked, PEEK_MAX, 'a peek stops at PEEK_MAX');
    assert.deepEqual(window.subarray(0, peeked), big.subarray(0, peeked));
    client.flags = 0;
    served.flags = 0;
    client.shutdown(2);
    const got = new Uint8Array(big.length);
    let n = 0;
    for (let i = 0; i < 10_000 && n < big.length; i++) {
      const k = served.read(got.subarray(n));
      if (k === 0) break;
      n += k;
    }
    assert.equal(n, big.length);
    assert.deepEqual(got, big);
    assert.equal(served.recv([new Uint8Array(8)], PEEK).count, 0, 'a peek at end of stream returns 0');
  });

  it('getpeername and getsockname of an accepted connection are the two ends of the handshake', () => {
    const { a, b } = pair();
    const listener = new TcpListenerFd(b, b.listen('0.0.0.0', 83), 0, { address: '0.0.0.0', port: 83 });
    const clients = [0, 1].map(() => new TcpStreamFd(a, a.connect('10.77.0.2', 83)));
    const accepted = [listener.accept(0), listener.accept(0)] as TcpStreamFd[];
    const clientEnds = clients.map((c) => `${c.local().address}:${c.local().port}`);
    const peers = accepted.map((s) => `${s.peer?.address}:${s.peer?.port}`);
    assert.deepEqual(peers.sort(), clientEnds.sort(), 'each accepted connection knows its own client');
    assert.notEqual(peers[0], peers[1]);
    for (const s of accepted)
      assert.deepEqual(
        s.local(),
        { address: '10.77.0.2', port: 83 },
        'the address connected to, not 0.0.0.0',
      );
  });

  it('a connection to a closed port fails with CONNREFUSED or CONNRESET; writes then fail', () => {
    const { a } = pair();
    const client = new TcpStreamFd(a, a.connect('10.77.0.2', 9));
    const n = errno(() => client.read(new Uint8Array(1)));
    assert.ok(([Errno.CONNREFUSED, Errno.CONNRESET] as number[]).includes(n), `errno ${n}`);
    assert.ok(errno(() => client.write(text('x'))) !== 0);
    assert.equal(client.pollWrite().hangup, true);
  });
});

describe('cloister_sock calls on guest memory', () => {
  function guest(net: NetStack | undefined) {
    const ctx = new WasiContext(
      [],
      [],
      { write() {}, readStdin: () => new Uint8Array(0), pollStdin: () => false },
      {
        realtimeNs: () => BigInt(Date.now()) * 1_000_000n,
        monotonicNs: () => BigInt(Math.floor(performance.now() * 1e6)),
        resolutionNs: () => 1n,
      },
    );
    const memory = new WebAssembly.Memory({ initial: 1 });
    ctx.memory.bind(memory);
    const calls = socketCalls(net) as Record<string, (ctx: WasiContext, ...a: number[]) => number>;
    const call = (name: string, ...args: number[]): number => {
      try {
        return calls[name]!(ctx, ...args);
      } catch (error) {
        if (error instanceof WasiError) return error.errno;
        throw error;
      }
    };
    const view = new DataView(memory.buffer);
    const addr = (at: number, ip: string, port: number): number => {
      view.setUint16(at, 1, true);
      view.setUint16(at + 2, port, true);
      ip.split('.').forEach((o, i) => view.setUint8(at + 4 + i, Number(o)));
      return at;
    };
    const readAddr = (at: number): string =>
      `${[0, 1, 2, 3].map((i) => view.getUint8(at + 4 + i)).join('.')}:${view.getUint16(at + 2, true)}`;
    return { ctx, call, view, addr, readAddr };
  }

  it('socket, bind, listen on one side; socket, connect on the other; names of both ends', () => {
    const { a, b } = pair();
    const server = guest(b);
    const client = guest(a);
    assert.equal(server.call('sock_open', 1, 6, 0, 100), 0);
    const sfd = server.view.getUint32(100, true);
    assert.equal(server.call('sock_set_opt_flag', sfd, 2, 1), 0, 'SO_REUSEADDR accepted');
    assert.equal(server.call('sock_set_opt_flag', sfd, 99, 1), Errno.NOPROTOOPT);
    assert.equal(server.call('sock_bind', sfd, server.addr(200, '0.0.0.0', 8080)), 0);
    assert.equal(server.call('sock_bind', sfd, server.addr(200, '0.0.0.0', 8081)), Errno.INVAL, 'bound once');
    assert.equal(server.call('sock_listen', sfd, 16), 0);
    assert.ok(server.ctx.fds.get(sfd) instanceof TcpListenerFd, 'the same descriptor is now a listener');
    assert.equal(server.call('sock_addr_local', sfd, 300), 0);
    assert.equal(server.readAddr(300), '0.0.0.0:8080');

    assert.equal(client.call('sock_open', 1, 6 | 0x4000, 0, 100), 0, 'SOCK_NONBLOCK');
    const cfd = client.view.getUint32(100, true);
    assert.equal(client.call('sock_addr_peer', cfd, 300), Errno.NOTCONN);
    assert.equal(client.call('sock_connect', cfd, client.addr(200, '10.77.0.2', 8080)), Errno.INPROGRESS);
    const stream = client.ctx.fds.get(cfd) as TcpStreamFd;
    for (let i = 0; i < 1000 && !stream.pollWrite().ready; i++) stream.waitNetwork(5_000_000n);
    assert.equal(stream.pollWrite().ready, true, 'writable once connected');
    assert.equal(client.call('sock_addr_peer', cfd, 300), 0);
    assert.equal(client.readAddr(300), '10.77.0.2:8080');
    assert.equal(client.call('sock_addr_local', cfd, 300), 0);
    assert.match(client.readAddr(300), /^10\.77\.0\.1:\d+$/);
    assert.equal(client.call('sock_connect', cfd, client.addr(200, '10.77.0.2', 8080)), Errno.ISCONN);

    const accepted = (server.ctx.fds.get(sfd) as TcpListenerFd).accept(0);
    assert.ok(accepted instanceof TcpStreamFd);
    const afd = server.ctx.fds.add(accepted);
    assert.equal(server.call('sock_addr_local', afd, 300), 0);
    assert.equal(server.readAddr(300), '10.77.0.2:8080');
    assert.equal(server.call('sock_addr_peer', afd, 300), 0, 'getpeername of an accepted connection');
    assert.equal(client.call('sock_addr_local', cfd, 400), 0);
    assert.equal(server.readAddr(300), client.readAddr(400), "the server's peer is the client's local end");
    assert.equal(server.call('sock_addr_peer', sfd, 300), Errno.NOTCONN, 'a listener has no peer');
  });

  it('refuses what it does not do, and everything without a network', () => {
    const { a } = pair();
    const g = guest(a);
    assert.equal(g.call('sock_open', 2, 6, 0, 100), Errno.AFNOSUPPORT, 'IPv6');
    assert.equal(g.call('sock_open', 1, 5, 6, 100), Errno.PROTONOSUPPORT, 'a datagram socket is not TCP');
    assert.equal(g.call('sock_open', 1, 3, 0, 100), Errno.PROTONOSUPPORT, 'no raw sockets');
    assert.equal(g.call('sock_open', 1, 6, 17, 100), Errno.PROTONOSUPPORT);
    assert.equal(g.call('sock_open', 1, 6, 0, 100), 0);
    const fd = g.view.getUint32(100, true);
    g.view.setUint16(200, 2, true);
    assert.equal(g.call('sock_bind', fd, 200), Errno.AFNOSUPPORT);
    assert.equal(g.call('sock_connect', fd, g.addr(200, '0.0.0.0', 80)), Errno.INVAL);
    assert.equal(g.call('sock_connect', fd, g.addr(200, '10.77.0.2', 0)), Errno.INVAL);
    assert.equal(g.call('sock_bind', fd, 65536 - 4), Errno.FAULT);
    assert.equal(g.call('sock_listen', 42, 1), Errno.BADF, 'no such descriptor');
    // resolve: numeric only
    new Uint8Array(g.view.buffer).set(text('10.77.0.2'), 400);
    assert.equal(g.call('resolve', 400, 9, 443, 500, 4, 600), 0);
    assert.equal(g.view.getUint32(600, true), 1);
    assert.equal(g.readAddr(500), '10.77.0.2:443');
    new Uint8Array(g.view.buffer).set(text('example.org'), 400);
    assert.equal(
      g.call('resolve', 400, 11, 443, 500, 4, 600),
      Errno.NOENT,
      'no DNS, nothing for the host to learn',
    );
    assert.equal(g.call('resolve', 400, 100_000, 443, 500, 4, 600), Errno.INVAL);

    // Names come from the configuration's [Hosts] only; without case, with or without a final dot.
    const named = guest(pair(new HostTable([{ name: 'db.internal', address: '10.77.0.2' }])).a);
    const resolve = (name: string): string | number => {
      const bytes = text(name);
      new Uint8Array(named.view.buffer).set(bytes, 400);
      const e = named.call('resolve', 400, bytes.length, 5432, 500, 4, 600);
      return e !== 0 ? e : named.readAddr(500);
    };
    assert.equal(resolve('db.internal'), '10.77.0.2:5432');
    assert.equal(resolve('DB.Internal.'), '10.77.0.2:5432');
    assert.equal(resolve('localhost'), '127.0.0.1:5432');
    assert.equal(resolve('10.1.2.3'), '10.1.2.3:5432');
    assert.equal(resolve('db.internal.example'), Errno.NOENT, 'no suffix search');
    assert.equal(resolve('internal'), Errno.NOENT);
    assert.equal(resolve('db..internal'), Errno.NOENT);
    assert.equal(resolve(''), Errno.NOENT);
    assert.equal(resolve('10.0.0.256'), Errno.NOENT);
    assert.equal(resolve('db.internal\0evil'), Errno.NOENT);

    const none = guest(undefined);
    assert.equal(none.call('sock_open', 1, 6, 0, 100), Errno.NETDOWN);
    assert.equal(none.call('resolve', 400, 9, 443, 500, 4, 600), Errno.NETDOWN);
  });
  /** Writes `parts` as iovecs at `at` (data after the iovec array); returns the iovec pointer. */
  function iovs(g: ReturnType<typeof guest>, at: number, parts: (Uint8Array | number)[]): number {
    let data = at + parts.length * 8;
    parts.forEach((p, i) => {
      const len = typeof p === 'number' ? p : p.length;
      if (typeof p !== 'number') new Uint8Array(g.view.buffer).set(p, data);
      g.view.setUint32(at + i * 8, data, true);
      g.view.setUint32(at + i * 8 + 4, len, true);
      data += len;
    });
    return at;
  }
  const bytesAt = (g: ReturnType<typeof guest>, ptr: number, len: number): string =>
    new TextDecoder().decode(new Uint8Array(g.view.buffer, ptr, len));
  const IOV = 1000;
  const DATA = IOV + 64;

  function udpSocket(g: ReturnType<typeof guest>, flags = 0): number {
    assert.equal(g.call('sock_open', 1, 5 | flags, 0, 100), 0);
    return g.view.getUint32(100, true);
  }

  it('UDP: bind, sendto, recvfrom with the source address, an echo back, and truncation', () => {
    const { a, b } = pair();
    const server = guest(b);
    const client = guest(a);
    const sfd = udpSocket(server);
    assert.equal(server.call('sock_bind', sfd, server.addr(200, '0.0.0.0', 5353)), 0);
    assert.equal(server.call('sock_bind', sfd, server.addr(200, '0.0.0.0', 5354)), Errno.INVAL, 'bound once');
    const cfd = udpSocket(client);
    // sendto on an unbound socket binds it to an ephemeral port first, as POSIX does.
    const msg = text('ping over the tunnel');
    const to = client.addr(200, '10.77.0.2', 5353);
    assert.equal(
      client.call(
        'sock_send_to',
        cfd,
        iovs(client, IOV, [msg.subarray(0, 4), msg.subarray(4)]),
        2,
        0,
        to,
        300,
      ),
      0,
    );
    assert.equal(client.view.getUint32(300, true), msg.length, 'two buffers, one datagram');
    assert.equal(client.call('sock_addr_local', cfd, 300), 0);
    const clientEnd = client.readAddr(300);
    assert.match(clientEnd, /^0\.0\.0\.0:\d+$/);
    const clientPort = Number(clientEnd.split(':')[1]);
    assert.ok(clientPort > 0);

    const recvFrom = (g: ReturnType<typeof guest>, fd: number, sizes: number[], flags = 0) => {
      const e = g.call('sock_recv_from', fd, iovs(g, IOV, sizes), sizes.length, flags, 300, 304, 308);
      return {
        e,
        n: g.view.getUint32(300, true),
        roflags: g.view.getUint16(304, true),
        from: g.readAddr(308),
      };
    };
    const got = recvFrom(server, sfd, [64]);
    assert.deepEqual([got.e, got.n, got.roflags, got.from], [0, msg.length, 0, `10.77.0.1:${clientPort}`]);
    assert.equal(bytesAt(server, DATA - 8 + 8, got.n).length, msg.length);
    assert.equal(bytesAt(server, IOV + 8, got.n), 'ping over the tunnel');

    // Echo back to where it came from; the client receives it from the server's port.
    server.addr(200, '10.77.0.1', clientPort);
    assert.equal(server.call('sock_send_to', sfd, iovs(server, IOV, [text('pong')]), 1, 0, 200, 300), 0);
    const back = recvFrom(client, cfd, [2, 8]);
    assert.deepEqual([back.e, back.n, back.roflags, back.from], [0, 4, 0, '10.77.0.2:5353']);
    assert.equal(bytesAt(client, IOV + 16, 2) + bytesAt(client, IOV + 18, 2), 'pong');

    // A datagram longer than the buffers: the rest is dropped and RECV_DATA_TRUNCATED set; MSG_PEEK
    // leaves it for the next call; the next datagram comes whole.
    for (const m of ['0123456789abcdef', 'next'])
      assert.equal(client.call('sock_send_to', cfd, iovs(client, IOV, [text(m)]), 1, 0, to, 300), 0);
    for (let i = 0; i < 100 && !server.ctx.fds.get(sfd).pollRead(5_000_000n).ready; i++);
    assert.equal(server.ctx.fds.get(sfd).pollRead(0n).nbytes, 16n, 'poll reports the next datagram size');
    const peek = recvFrom(server, sfd, [4], 1);
    assert.deepEqual([peek.n, peek.roflags, bytesAt(server, IOV + 8, 4)], [4, 1, '0123']);
    const cut = recvFrom(server, sfd, [10]);
    assert.deepEqual([cut.n, cut.roflags, bytesAt(server, IOV + 8, 10)], [10, 1, '0123456789']);
    const next = recvFrom(server, sfd, [64]);
    assert.deepEqual([next.n, next.roflags, bytesAt(server, IOV + 8, 4)], [4, 0, 'next']);
    // An empty datagram is a datagram.
    assert.equal(client.call('sock_send_to', cfd, iovs(client, IOV, []), 0, 0, to, 300), 0);
    const empty = recvFrom(server, sfd, [64]);
    assert.deepEqual([empty.e, empty.n, empty.roflags], [0, 0, 0]);
  });

  it('UDP: a connected socket sends to its peer and drops datagrams from anyone else; errors', () => {
    const { a, b } = pair();
    const server = guest(b);
    const client = guest(a);
    const sfd = udpSocket(server, 0x4000);
    assert.equal(server.call('sock_bind', sfd, server.addr(200, '10.77.0.9', 7)), Errno.ADDRNOTAVAIL);
    assert.equal(server.call('sock_bind', sfd, server.addr(200, '10.77.0.2', 7)), 0);
    const other = udpSocket(server);
    assert.equal(server.call('sock_bind', other, server.addr(200, '0.0.0.0', 7)), Errno.ADDRINUSE);
    assert.equal(server.call('sock_listen', sfd, 1), Errno.NOTSUP);
    const empty = server.ctx.fds.get(sfd);
    assert.equal(
      errno(() => empty.socket().recv([new Uint8Array(4)], 0)),
      Errno.AGAIN,
      'non-blocking',
    );
    assert.equal(empty.pollRead(0n).ready, false);
    assert.equal(empty.pollWrite().ready, true);

    const friend = udpSocket(client);
    const stranger = udpSocket(client);
    assert.equal(client.call('sock_addr_peer', friend, 300), Errno.NOTCONN);
    assert.equal(client.call('sock_connect', friend, client.addr(200, '10.77.0.2', 0)), Errno.INVAL);
    assert.equal(client.call('sock_connect', friend, client.addr(200, '10.77.0.2', 7)), 0);
    assert.equal(client.call('sock_addr_peer', friend, 300), 0);
    assert.equal(client.readAddr(300), '10.77.0.2:7');
    assert.equal(client.call('sock_addr_local', friend, 300), 0);
    const friendPort = client.view.getUint16(302, true);
    assert.equal(server.call('sock_connect', sfd, server.addr(200, '10.77.0.1', friendPort)), 0);

    const send = (fd: number, m: string): number =>
      errno(() =>
        client.ctx.fds
          .get(fd)
          .socket()
          .send([text(m)], 0),
      );
    assert.equal(send(stranger, 'no address'), Errno.DESTADDRREQ);
    client.addr(200, '10.77.0.2', 7);
    assert.equal(
      client.call('sock_send_to', stranger, iovs(client, IOV, [text('intruder')]), 1, 0, 200, 300),
      0,
    );
    // fd_write of two buffers on a datagram socket is one datagram.
    assert.equal(fd_write(client.ctx, friend, iovs(client, IOV, [text('fri'), text('end')]), 2, 300), 0);
    assert.equal(client.view.getUint32(300, true), 6);
    const sock = server.ctx.fds.get(sfd);
    for (let i = 0; i < 100 && !sock.pollRead(5_000_000n).ready; i++);
    // fd_read of two buffers takes one datagram across them.
    assert.equal(fd_read(server.ctx, sfd, iovs(server, IOV, [4, 8]), 2, 300), 0);
    assert.equal(server.view.getUint32(300, true), 6);
    assert.equal(bytesAt(server, IOV + 16, 6), 'friend', "only the connected peer's datagram");
    for (let i = 0; i < 5; i++) sock.pollRead(2_000_000n);
    assert.equal(
      errno(() => sock.socket().recv([new Uint8Array(16)], 0)),
      Errno.AGAIN,
      'the intruder was dropped',
    );
    // Without an address a connected socket sends to its peer.
    assert.equal(sock.socket().send([text('reply')], 0), 5);
    const fsock = client.ctx.fds.get(friend);
    const buf = new Uint8Array(16);
    assert.equal(fsock.socket().recv([buf], 0).count, 5);
    assert.equal(new TextDecoder().decode(buf.subarray(0, 5)), 'reply');

    // Sizes: a datagram fits the tunnel MTU (1420 - 28 bytes of IP and UDP headers) or is refused.
    assert.equal(send(friend, 'x'.repeat(1393)), Errno.MSGSIZE);
    assert.equal(send(friend, 'x'.repeat(1392)), 0);
    // A stream socket is connected to one peer: sendto with an address is refused.
    assert.equal(client.call('sock_open', 1, 6, 0, 100), 0);
    const tcp = client.view.getUint32(100, true);
    assert.equal(
      client.call('sock_send_to', tcp, iovs(client, IOV, [text('x')]), 1, 0, 200, 300),
      Errno.NOTCONN,
    );
    assert.equal(client.call('sock_send_to', 99, iovs(client, IOV, [text('x')]), 1, 0, 200, 300), Errno.BADF);
    assert.equal(client.call('sock_recv_from', 99, IOV, 0, 0, 300, 304, 308), Errno.BADF);
    assert.equal(client.call('sock_recv_from', friend, IOV, 0, 0, 300, 304, 65534), Errno.FAULT);
  });

  it('UDP: a flood beyond the 64-datagram queue is dropped and counted; the socket goes on', () => {
    const { a, b } = pair();
    const server = guest(b);
    const client = guest(a);
    const sfd = udpSocket(server, 0x4000);
    assert.equal(server.call('sock_bind', sfd, server.addr(200, '0.0.0.0', 9000)), 0);
    const cfd = udpSocket(client);
    client.addr(200, '10.77.0.2', 9000);
    for (let i = 0; i < 100; i++)
      assert.equal(client.call('sock_send_to', cfd, iovs(client, IOV, [text(`d${i}`)]), 1, 0, 200, 300), 0);
    // The program is busy with another socket meanwhile: waiting on it pumps the shared network.
    const busy = udpSocket(server);
    assert.equal(server.call('sock_bind', busy, server.addr(200, '0.0.0.0', 9001)), 0);
    for (let i = 0; i < 10; i++) server.ctx.fds.get(busy).pollRead(1_000_000n);
    const sock = server.ctx.fds.get(sfd).socket();
    const got: string[] = [];
    for (let i = 0; i < 200; i++) {
      const buf = new Uint8Array(8);
      const e = errno(() => got.push(new TextDecoder().decode(buf.subarray(0, sock.recv([buf], 0).count))));
      if (e === Errno.AGAIN && got.length > 0) break;
    }
    const dropped = b.stack.stats().udpQueueDropped;
    assert.ok(dropped > 0, 'the queue overflowed');
    assert.ok(got.length <= 65, `${got.length} received`);
    assert.equal(got.length + dropped, 100, 'every datagram was either received or counted as dropped');
    assert.deepEqual(
      got,
      [...got].sort((x, y) => Number(x.slice(1)) - Number(y.slice(1))),
      'in order',
    );
    assert.equal(client.call('sock_send_to', cfd, iovs(client, IOV, [text('after')]), 1, 0, 200, 300), 0);
    const buf = new Uint8Array(8);
    let n = -1;
    for (let i = 0; i < 100 && n < 0; i++) {
      server.ctx.fds.get(sfd).pollRead(2_000_000n);
      errno(() => (n = sock.recv([buf], 0).count));
    }
    assert.equal(new TextDecoder().decode(buf.subarray(0, n)), 'after');
  });

  /**
   * A threaded program's kernel owns the stack and never waits: a call that would wait pumps once
   * and hands the wait back (WouldBlock), the thread waits, the call is made again. Here the other
   * side runs only while the "thread" waits (between attempts), so every wait is handed back.
   */
  function handedBack<T>(attempt: () => T, whileWaiting: () => void): { result: T; waits: number } {
    for (let waits = 0; waits < 2_000; waits++) {
      WirePort.running = true;
      try {
        return { result: attempt(), waits };
      } catch (error) {
        if (!(error instanceof WouldBlock) || error.kind !== BlockKind.NET) throw error;
      } finally {
        WirePort.running = false;
      }
      whileWaiting();
    }
    throw new Error('never completed');
  }

  it('threads: a blocking connect handed back to its thread completes on the one connection it started', () => {
    const { a, b } = pair();
    const listenId = b.listen('0.0.0.0', 8080);
    a.handWaitsBack(waitNetworkInThread);
    const client = guest(a);
    assert.equal(client.call('sock_open', 1, 6, 0, 100), 0);
    const cfd = client.view.getUint32(100, true);
    const to = client.addr(200, '10.77.0.2', 8080);
    const { result, waits } = handedBack(
      () => client.call('sock_connect', cfd, to),
      () => b.pump(0),
    );
    assert.equal(result, 0);
    assert.ok(waits > 0, 'the wait went back to the thread');
    a.flush();
    for (let i = 0; i < 5; i++) b.pump(0);
    assert.equal(b.pendingAccepts(listenId), 1, 'one connection, not one per attempt');

    // Another blocking connect, retried with another address while it is under way: ALREADY.
    assert.equal(client.call('sock_open', 1, 6, 0, 100), 0);
    const second = client.view.getUint32(100, true);
    WirePort.running = true;
    try {
      assert.throws(() => client.call('sock_connect', second, to), WouldBlock);
      assert.equal(client.call('sock_connect', second, client.addr(200, '10.77.0.2', 8081)), Errno.ALREADY);
    } finally {
      WirePort.running = false;
    }
  });

  it('threads: a write handed back after sending part returns its count; the retries send every byte once', () => {
    const { a, b } = pair();
    const listener = new TcpListenerFd(b, b.listen('0.0.0.0', 80), 0, { address: '0.0.0.0', port: 80 });
    const client = new TcpStreamFd(a, a.connect('10.77.0.2', 80), 0, { address: '10.77.0.2', port: 80 });
    const served = listener.accept(0) as TcpStreamFd;
    a.handWaitsBack(waitNetworkInThread);
    const data = new Uint8Array(randomBytes(2 << 20));
    const got: Uint8Array[] = [];
    let received = 0;
    const drain = (): void => {
      b.pump(0);
      const buf = new Uint8Array(256 * 1024);
      while (served.pollRead(0n).ready && received < data.length) {
        const n = served.read(buf);
        if (n === 0) break;
        got.push(buf.slice(0, n));
        received += n;
      }
    };
    let sent = 0;
    let shortWrites = 0;
    let waits = 0;
    for (let i = 0; i < 1_000 && sent < data.length; i++) {
      const r = handedBack(() => client.write(data.subarray(sent)), drain);
      waits += r.waits;
      if (sent + r.result < data.length) shortWrites++;
      sent += r.result;
    }
    for (let i = 0; i < 1_000 && received < data.length; i++) {
      a.pump(0);
      drain();
    }
    assert.equal(sent, data.length);
    assert.ok(shortWrites > 0, 'a write stopped short when it would have waited');
    assert.ok(waits > 0, 'and a write with nothing sent yet handed its wait back');
    assert.deepEqual(Buffer.concat(got), Buffer.from(data), 'every byte once, in order');
  });
});

describe('outbound datagrams leave in batches', () => {
  it('writes of 16 KiB go to the host in full batches; a short reply leaves at the next call or wait', () => {
    const { a, b, ports } = pair();
    const listener = new TcpListenerFd(b, b.listen('0.0.0.0', 80), 0, { address: '0.0.0.0', port: 80 });
    const client = new TcpStreamFd(a, a.connect('10.77.0.2', 80), 0, { address: '10.77.0.2', port: 80 });
    const served = listener.accept(0) as TcpStreamFd;
    const chunk = new Uint8Array(16 * 1024).fill(7);
    const buf = new Uint8Array(1 << 20);
    const port = ports[1]!;
    // 16 writes of 16 KiB (within the send buffer: none waits), then the client reads them all.
    const round = (): void => {
      for (let i = 0; i < 16; i++) assert.equal(served.write(chunk), chunk.length);
      b.flush();
      let received = 0;
      for (let i = 0; i < 2_000 && received < 16 * chunk.length; i++) received += client.read(buf);
      assert.equal(received, 16 * chunk.length);
    };
    // Warm up: slow start has opened the window after a few rounds.
    for (let r = 0; r < 8; r++) round();
    port.sends = port.sent = 0;
    for (let i = 0; i < 16; i++) assert.equal(served.write(chunk), chunk.length);
    b.flush();
    // Before, each write handed its 12 datagrams over on its own: 16 host calls here.
    assert.ok(port.sent >= 180, `${port.sent} datagrams`);
    assert.ok(port.sends <= 8, `${port.sends} host calls for ${port.sent} datagrams`);
    let received = 0;
    for (let i = 0; i < 2_000 && received < 16 * chunk.length; i++) received += client.read(buf);
    assert.equal(received, 16 * chunk.length);

    // A short reply waits in the outbox, and leaves at the program's next call once it is 1 ms old.
    for (let i = 0; i < 20; i++) b.pump(0);
    port.sent = 0;
    served.write(new Uint8Array([1, 2, 3]));
    assert.equal(port.sent, 0, 'queued, not sent by the write itself');
    const until = performance.now() + OUTBOX_AGE_MS;
    while (performance.now() <= until) {
      // spin past OUTBOX_AGE_MS
    }
    b.pumpIfDue();
    assert.ok(port.sent >= 1, 'sent at the next call');
    assert.equal(client.read(buf), 3);
  });
});

describe('an unmodified C program with UDP sockets (examples/net/udpecho.c, built with the shim)', () => {
  it('echoes datagrams to where they came from, waiting in poll() and recvfrom()', () => {
    const { a, b, ports } = pair();
    const out: string[] = [];
    const wasi = new Wasi({
      args: ['udpecho', '7', '3'],
      env: [],
      preopens: [],
      console: {
        write: (_fd, data) => void out.push(new TextDecoder().decode(data)),
        readStdin: () => new Uint8Array(0),
        pollStdin: () => false,
      },
      clock: {
        realtimeNs: () => BigInt(Date.now()) * 1_000_000n,
        monotonicNs: () => BigInt(Math.floor(performance.now() * 1e6)),
        resolutionNs: () => 1n,
      },
      modules: { [SOCKET_MODULE]: socketCalls(b) },
    });
    // The peer: a UDP socket on the other stack that sends the next datagram once the last came back.
    const peer = new UdpSocketFd(a, FdFlags.NONBLOCK);
    peer.bind({ address: '0.0.0.0', port: 4000 });
    const sizes = [5, 1392, 0];
    const sent: Uint8Array[] = [];
    const echoes: { data: Uint8Array; from: string }[] = [];
    let waits = 0;
    ports[1]!.onWait = () => {
      if (++waits > 20_000) throw new Error('the echo server never answered');
      for (;;) {
        const buf = new Uint8Array(2048);
        let got: ReturnType<UdpSocketFd['recvFrom']>;
        try {
          got = peer.recvFrom([buf], 0);
        } catch (error) {
          if (error instanceof WasiError && error.errno === Errno.AGAIN) break;
          throw error;
        }
        echoes.push({ data: buf.subarray(0, got.count), from: `${got.from.address}:${got.from.port}` });
      }
      if (sent.length === echoes.length && sent.length < sizes.length) {
        const data = new Uint8Array(randomBytes(sizes[sent.length]!));
        sent.push(data);
        peer.sendTo([data], { address: '10.77.0.2', port: 7 });
      }
    };
    const module = new WebAssembly.Module(
      readFileSync(new URL('../../examples/net/udpecho.wasm', import.meta.url)),
    );
    const status = wasi.start(new WebAssembly.Instance(module, wasi.imports as WebAssembly.Imports));
    // The last echo left the enclave as the program exited: let the peer take it.
    for (let i = 0; i < 100 && echoes.length < sizes.length; i++) {
      a.pump(0);
      ports[1]!.onWait();
    }
    assert.equal(status, 0, out.join(''));
    assert.deepEqual(
      echoes.map((e) => e.from),
      sizes.map(() => '10.77.0.2:7'),
    );
    assert.deepEqual(
      echoes.map((e) => Buffer.from(e.data).toString('hex')),
      sent.map((d) => Buffer.from(d).toString('hex')),
      'every datagram came back byte for byte, the empty one too',
    );
    assert.match(
      out.join(''),
      /listening on UDP port 7\n.*5 bytes from 10\.77\.0\.1:4000\n.*1392 bytes from 10\.77\.0\.1:4000\n.*0 bytes from 10\.77\.0\.1:4000\n/s,
    );
  });
});

describe('the network moves while a program makes no socket call', () => {
  const clockSource = {
    realtimeNs: () => BigInt(Date.now()) * 1_000_000n,
    monotonicNs: () => BigInt(Math.floor(performance.now() * 1e6)),
    resolutionNs: () => 1n,
  };
  const quiet = { write() {}, readStdin: () => new Uint8Array(0), pollStdin: () => false };

  /** A connection from a to b with `bytes` sent by a and not yet taken in by b. */
  function unreadConnection(bytes: number) {
    const { a, b, ports } = pair();
    const listener = new TcpListenerFd(b, b.listen('0.0.0.0', 90), 0, { address: '0.0.0.0', port: 90 });
    const client = new TcpStreamFd(a, a.connect('10.77.0.2', 90), FdFlags.NONBLOCK);
    const served = listener.accept(0) as TcpStreamFd;
    let sent = 0;
    for (let i = 0; i < 1000 && sent < bytes; i++) {
      const e = errno(() => (sent += client.write(new Uint8Array(bytes - sent))));
      if (e === Errno.AGAIN) break;
    }
    assert.ok(sent > 0);
    return { a, b, ports, served, sent };
  }

  function program(net: NetStack) {
    const wasi = new Wasi({
      args: ['busy'],
      env: [],
      preopens: [],
      console: quiet,
      clock: clockSource,
      sleep: (ns) => net.sleep(ns),
      beforeCall: () => net.pumpIfDue(),
    });
    const memory = new WebAssembly.Memory({ initial: 1 });
    wasi.bindMemory(memory);
    const calls = wasi.imports.wasi_snapshot_preview1 as Record<string, (...a: unknown[]) => number>;
    return { calls, view: new DataView(memory.buffer) };
  }

  it('calls other than socket calls (here clock_time_get) take in what arrived, at a bounded cost', () => {
    const { b, ports, served } = unreadConnection(100_000);
    assert.ok(ports[1]!.inbox.length > 0, 'datagrams wait on the wire');
    const taken = b.stack.tcpPending(served.id);
    const { calls } = program(b);
    const before = ports[1]!.receives;
    const start = performance.now();
    let n = 0;
    // The program computes and reads the clock, for at least 100 ms (bounded in count too).
    for (; n < 5_000_000 && (performance.now() - start < 100 || n < 1000); n++)
      assert.equal(calls.clock_time_get!(1, 0n, 0), 0);
    const elapsed = performance.now() - start;
    const receives = ports[1]!.receives - before;
    assert.ok(b.stack.tcpPending(served.id) > taken, 'more data reached lwIP without a socket call');
    assert.ok(receives >= 1);
    assert.ok(
      receives <= Math.ceil(elapsed / BACKGROUND_PUMP_MS) + 1,
      `${receives} host receives for ${n} calls in ${elapsed.toFixed(1)} ms: at most one per ${BACKGROUND_PUMP_MS} ms`,
    );
  });

  it('a sleep (poll_oneoff on a clock only) pumps the network while it waits', () => {
    const { b, ports, served, sent } = unreadConnection(100_000);
    assert.ok(ports[1]!.inbox.length > 0, 'datagrams wait on the wire');
    const taken = b.stack.tcpPending(served.id);
    const { calls, view } = program(b);
    // One relative clock subscription of 50 ms on the monotonic clock.
    view.setBigUint64(0, 7n, true);
    view.setUint8(8, 0);
    view.setUint32(16, 1, true);
    view.setBigUint64(24, 50_000_000n, true);
    view.setUint16(40, 0, true);
    assert.equal(calls.poll_oneoff!(0, 100, 1, 200), 0);
    assert.equal(view.getUint32(200, true), 1);
    assert.equal(view.getBigUint64(100, true), 7n, 'the clock fired');
    const pending = b.stack.tcpPending(served.id);
    assert.ok(pending > taken && pending <= sent, `${pending} of ${sent} bytes arrived while sleeping`);
  });
});
