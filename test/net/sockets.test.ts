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
import { NetStack } from '../../src/enclave/net/netstack.ts';
import { PEEK_MAX, TcpListenerFd, TcpStreamFd } from '../../src/enclave/net/socket-fd.ts';
import { socketCalls } from '../../src/enclave/net/socket-calls.ts';
import { WasiContext } from '../../src/enclave/libos/context.ts';
import { FdFlags } from '../../src/enclave/libos/wasi/layout.ts';
import { generatePrivateKey, publicKey } from '../../src/enclave/net/wireguard/crypto.ts';
import { cidr } from './helpers/wg-pair.ts';

const lwip = compileLwip(readFileSync(new URL('../../src/enclave/net/lwip.wasm', import.meta.url)));
const clock = { nowMs: () => performance.now(), wallMs: () => Date.now() };

/** One side of the in-memory wire; waiting on it runs the other side once (never recursively). */
class WirePort implements DatagramPort {
  static running = false;
  readonly inbox: OuterDatagram[] = [];
  other!: WirePort;
  stack!: NetStack;
  constructor(readonly port: number) {}
  send(datagrams: readonly OuterDatagram[]): void {
    for (const d of datagrams) this.other.inbox.push({ data: d.data, address: '127.0.0.1', port: this.port });
  }
  receive(_waitNs: bigint, max: number): OuterDatagram[] {
    if (!WirePort.running) {
      WirePort.running = true;
      try {
        this.other.stack.pump(0);
      } finally {
        WirePort.running = false;
      }
    }
    return this.inbox.splice(0, max);
  }
}

function pair(): { a: NetStack; b: NetStack } {
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
      }),
  );
  ports[0]!.stack = stacks[0]!;
  ports[1]!.stack = stacks[1]!;
  return { a: stacks[0]!, b: stacks[1]! };
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
    assert.equal(g.call('sock_open', 1, 5, 0, 100), Errno.PROTONOSUPPORT, 'datagram sockets');
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

    const none = guest(undefined);
    assert.equal(none.call('sock_open', 1, 6, 0, 100), Errno.NETDOWN);
    assert.equal(none.call('resolve', 400, 9, 443, 500, 4, 600), Errno.NETDOWN);
  });
});
