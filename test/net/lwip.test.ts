import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Wire, makeNode, TestClock } from './helpers/lwip-pair.ts';
import type { Node } from './helpers/lwip-pair.ts';
import {
  TCP_ACK,
  TCP_SYN,
  icmpEchoRequest,
  inetChecksum,
  ipv4Packet,
  readIpv4,
  readTcp,
} from './helpers/packets.ts';
import { parseIPv4 } from '../../src/enclave/net/ipv4.ts';
import { WasiError } from '../../src/interface/errno.ts';

const MiB = 1024 * 1024;

/** Connects a (client) to b (server) on port 8080; returns both connection ids. */
function connect(wire: Wire): { client: number; server: number } {
  const listener = wire.b.stack.tcpListen('0.0.0.0', 8080);
  const client = wire.a.stack.tcpConnect('10.213.0.2', 8080);
  wire.pump();
  const accepted = wire.b.events.find((e) => e.kind === 'accept');
  assert.ok(accepted && accepted.kind === 'accept' && accepted.listener === listener, 'server accepted');
  const connected = wire.a.events.find((e) => e.kind === 'connected' && e.conn === client);
  assert.deepEqual(connected, { kind: 'connected', conn: client, errno: 0 });
  wire.a.events.length = 0;
  wire.b.events.length = 0;
  return { client, server: accepted.conn };
}

/** Streams `out` from each side to the other at once; returns what each side received. */
function exchange(wire: Wire, aConn: number, aOut: Uint8Array, bConn: number, bOut: Uint8Array) {
  const got = { a: [] as Uint8Array[], b: [] as Uint8Array[] };
  const size = { a: 0, b: 0 };
  const sent = { a: 0, b: 0 };
  const step = (node: Node, conn: number, out: Uint8Array, side: 'a' | 'b') => {
    if (sent[side] < out.length)
      sent[side] += node.stack.tcpSend(conn, out.subarray(sent[side], sent[side] + 256 * 1024));
    for (;;) {
      const chunk = node.stack.tcpRecv(conn);
      if (chunk.length === 0) break;
      got[side].push(chunk);
      size[side] += chunk.length;
    }
  };
  for (let round = 0; round < 20_000; round++) {
    if (size.a === bOut.length && size.b === aOut.length) break;
    const before = size.a + size.b + sent.a + sent.b;
    step(wire.a, aConn, aOut, 'a');
    step(wire.b, bConn, bOut, 'b');
    wire.pump();
    // Nothing moved: let the delayed-ACK and retransmission timers run.
    if (size.a + size.b + sent.a + sent.b === before) wire.advance(250);
  }
  return { a: Buffer.concat(got.a), b: Buffer.concat(got.b) };
}

/** An IPv4 packet holding a TCP segment with no options, no data and only the ACK flag. */
function isPureAck(p: Uint8Array): boolean {
  const ip = readIpv4(p);
  return ip.protocol === 6 && ip.payload.length === 20 && ip.payload[13] === TCP_ACK;
}

function ackOf(p: Uint8Array): number {
  return Buffer.from(readIpv4(p).payload).readUInt32BE(8);
}

/** The sequence number after a data segment. */
function seqEnd(p: Uint8Array): number {
  const tcp = readIpv4(p).payload;
  return (Buffer.from(tcp).readUInt32BE(4) + tcp.length - (tcp[12]! >> 4) * 4) >>> 0;
}

/**
 * A connection whose congestion window has grown (1 MiB sent first), then `n` full segments from
 * a to b taken off the wire instead of delivered: the test hands them to b itself.
 */
function capturedSegments(n: number) {
  const wire = new Wire();
  const { client, server } = connect(wire);
  exchange(wire, client, randomBytes(MiB), server, new Uint8Array(0));
  wire.advance(500); // delayed ACKs out: nothing in flight
  wire.b.events.length = 0;
  const captured: Uint8Array[] = [];
  wire.filter = (p, from) => {
    if (from === 'a' && readIpv4(p).payload.length > 20) return void captured.push(p);
    return p;
  };
  assert.equal(wire.a.stack.tcpSend(client, randomBytes(n * 1380)), n * 1380);
  wire.pump();
  assert.equal(captured.length, n, 'the window let all segments out at once');
  wire.b.outbox.length = 0;
  return { wire, client, server, captured };
}

/** A connection over which `length` random bytes are sent while the receiver reads nothing. */
function sendUnread(length: number) {
  const wire = new Wire();
  const { client, server } = connect(wire);
  const data = randomBytes(length);
  let sent = 0;
  for (let i = 0; i < 200 && sent < data.length; i++) {
    sent += wire.a.stack.tcpSend(client, data.subarray(sent));
    wire.pump();
    wire.advance(250);
  }
  return { wire, server, data, sent };
}

describe('lwip.wasm', () => {
  it('is the build recorded in native/lwip/SHA256SUMS and imports only the five embedder functions', () => {
    const bytes = readFileSync(new URL('../../src/enclave/net/lwip.wasm', import.meta.url));
    const sums = readFileSync(new URL('../../native/lwip/SHA256SUMS', import.meta.url), 'utf8');
    assert.ok(
      sums.includes(`${createHash('sha256').update(bytes).digest('hex')}  src/enclave/net/lwip.wasm`),
    );
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes)).map(
      (i) => `${i.module}.${i.name}`,
    );
    assert.deepEqual(imports.sort(), [
      'cloister_net.assert_failed',
      'cloister_net.event',
      'cloister_net.now_ms',
      'cloister_net.output',
      'cloister_net.random32',
    ]);
  });
});

describe('lwIP in wasm, two stacks back to back', () => {
  it('completes a TCP handshake; the SYN advertises an MSS fitted to the MTU and window scaling', () => {
    const wire = new Wire(1420);
    const syns: Uint8Array[] = [];
    wire.filter = (p) => {
      const ip = readIpv4(p);
      if (ip.protocol === 6 && readTcp(ip.payload).flags & TCP_SYN) syns.push(p);
      return p;
    };
    const { client, server } = connect(wire);
    assert.equal(syns.length, 2, 'SYN and SYN-ACK');
    for (const syn of syns) {
      const tcp = readTcp(readIpv4(syn).payload);
      assert.equal(tcp.mss, 1420 - 40);
      assert.equal(tcp.windowScale, 3);
    }
    assert.equal(wire.a.stack.tcpMss(client), 1380);
    assert.equal(wire.b.stack.tcpMss(server), 1380);
    assert.equal(wire.b.stack.tcpLocalPort(server), 8080);
  });

  it('a smaller tunnel MTU gives a smaller MSS', () => {
    const wire = new Wire(1280);
    const { client } = connect(wire);
    assert.equal(wire.a.stack.tcpMss(client), 1240);
  });

  it('transfers 10 MiB each way at once with the right bytes, then closes both directions', () => {
    const wire = new Wire();
    const { client, server } = connect(wire);
    const up = randomBytes(10 * MiB);
    const down = randomBytes(10 * MiB);
    const got = exchange(wire, client, up, server, down);
    assert.equal(got.b.length, up.length);
    assert.equal(got.a.length, down.length);
    assert.ok(got.b.equals(up), 'server received the client bytes');
    assert.ok(got.a.equals(down), 'client received the server bytes');

    wire.a.stack.tcpShutdown(client);
    wire.pump();
    assert.ok(wire.b.events.some((e) => e.kind === 'eof' && e.conn === server));
    wire.b.stack.tcpClose(server);
    wire.pump();
    assert.ok(wire.a.events.some((e) => e.kind === 'eof' && e.conn === client));
    wire.a.stack.tcpClose(client);
    wire.advance(2000);
  });

  it('in batches, pure ACKs are thinned: 4 MiB arrive intact with a fraction of the ACKs', () => {
    const acksFor = (batched: boolean) => {
      const wire = new Wire();
      wire.batched = batched;
      const { client, server } = connect(wire);
      let segments = 0;
      let acks = 0;
      wire.filter = (p, from) => {
        if (from === 'a' && readIpv4(p).payload.length > 20) segments++;
        if (from === 'b' && isPureAck(p)) acks++;
        return p;
      };
      const up = randomBytes(4 * MiB);
      const got = exchange(wire, client, up, server, new Uint8Array(0));
      assert.ok(got.b.equals(up), 'the server received the client bytes');
      return { segments, acks };
    };
    const plain = acksFor(false);
    const thinned = acksFor(true);
    assert.ok(
      plain.acks >= plain.segments / 2 - 10,
      `one ACK per two segments unbatched: ${JSON.stringify(plain)}`,
    );
    assert.ok(thinned.acks < thinned.segments / 6, `far fewer in batches: ${JSON.stringify(thinned)}`);
  });

  it('a batch of 20 segments is answered by 2 ACKs (at most 8 of lwIP folded into one), the last covering all', () => {
    const { wire, client, server, captured } = capturedSegments(20);
    wire.b.stack.inputBatch(captured);
    const acks = wire.b.outbox.splice(0).filter(isPureAck);
    const ackNumbers = acks.map(ackOf);
    assert.equal(acks.length, 2, `ACKs: ${ackNumbers.join(', ')}`);
    assert.equal(ackNumbers[0], seqEnd(captured[15]!), 'the first stands for 8 of lwIP, 16 segments');
    assert.equal(ackNumbers[1], seqEnd(captured[19]!), 'the last ACK acknowledges every segment');
    assert.equal(wire.b.stack.tcpPending(server), 20 * 1380);
    void client;
  });

  it('a duplicate ACK in a batch is not folded: it goes out after the ACK held before it', () => {
    const { wire, server, captured } = capturedSegments(2);
    // The second segment again (a spurious retransmission): lwIP answers at once with the same ACK.
    wire.b.stack.inputBatch([captured[0]!, captured[1]!, captured[1]!]);
    const acks = wire.b.outbox.splice(0).filter(isPureAck).map(ackOf);
    assert.deepEqual(acks, [seqEnd(captured[1]!), seqEnd(captured[1]!)]);
    assert.equal(wire.b.stack.tcpPending(server), 2 * 1380);
  });

  it('outside a batch every ACK goes out as lwIP makes it', () => {
    const { wire, captured } = capturedSegments(20);
    for (const p of captured) wire.b.stack.input(p);
    assert.equal(wire.b.outbox.splice(0).filter(isPureAck).length, 10);
  });

  it('the receive window stays open past 64 KiB: 200 KiB are in flight before the reader reads', () => {
    const { wire, server, data, sent } = sendUnread(200 * 1024);
    assert.equal(sent, data.length);
    assert.equal(wire.b.stack.tcpPending(server), data.length, 'all of it queued unread at the receiver');
    assert.ok(Buffer.from(wire.b.stack.tcpRecv(server, data.length)).equals(data.subarray(0, 65536)));
  });

  it('a reader sends a window update of its own once it has read a quarter of the window, not per read', () => {
    const { wire, server, data } = sendUnread(200 * 1024);
    assert.equal(wire.b.stack.tcpPending(server), data.length);
    assert.equal(wire.b.outbox.length, 0);
    const windowOf = (p: Uint8Array) => readTcp(readIpv4(p).payload).window;
    let read = 0;
    for (let i = 0; i < 3; i++) read += wire.b.stack.tcpRecv(server, 16 * 1024).length;
    assert.equal(wire.b.outbox.length, 0, '48 KiB read: no update yet');
    read += wire.b.stack.tcpRecv(server, 16 * 1024).length;
    assert.equal(read, 64 * 1024);
    const updates = wire.b.outbox.splice(0);
    assert.equal(updates.length, 1, '64 KiB read: one window update');
    assert.ok(isPureAck(updates[0]!));
    assert.ok(windowOf(updates[0]!) << 3 >= 64 * 1024, 'it announces the room made');
    assert.ok(
      Buffer.from(wire.b.stack.tcpRecv(server, data.length)).equals(data.subarray(read, read + 65536)),
    );
  });

  it('retransmits a lost segment when the embedder clock advances', () => {
    const wire = new Wire();
    const { client, server } = connect(wire);
    let dropped = 0;
    wire.filter = (p, from) => {
      if (from === 'a' && readIpv4(p).payload.length > 40 && dropped === 0) {
        dropped++;
        return undefined;
      }
      return p;
    };
    const data = randomBytes(1000);
    assert.equal(wire.a.stack.tcpSend(client, data), 1000);
    wire.pump();
    assert.equal(dropped, 1);
    assert.equal(wire.b.stack.tcpPending(server), 0);
    assert.ok(wire.a.stack.sleepTime() <= 250, 'a TCP timer is due within one timer period');
    wire.advance(10_000);
    assert.ok(Buffer.from(wire.b.stack.tcpRecv(server)).equals(data));
  });

  it('a connection to a port nobody listens on reports a reset', () => {
    const wire = new Wire();
    const conn = wire.a.stack.tcpConnect('10.213.0.2', 9);
    wire.pump();
    assert.deepEqual(
      wire.a.events.find((e) => 'conn' in e && e.conn === conn),
      { kind: 'error', conn, errno: 15 /* CONNRESET */ },
    );
    assert.throws(() => wire.a.stack.tcpSend(conn, new Uint8Array(1)), WasiError);
    wire.a.stack.tcpClose(conn);
    assert.throws(() => wire.a.stack.tcpClose(conn), /BADF/);
  });

  it('echoes UDP datagrams with their source address and port', () => {
    const wire = new Wire();
    const server = wire.b.stack.udpBind('0.0.0.0', 7);
    const client = wire.a.stack.udpBind('0.0.0.0', 0);
    const clientPort = wire.a.stack.udpLocalPort(client);
    assert.ok(clientPort > 0);
    const messages = [randomBytes(1), randomBytes(512), randomBytes(1420 - 28)];
    for (const m of messages) wire.a.stack.udpSendTo(client, m, '10.213.0.2', 7);
    wire.pump();
    for (let d = wire.b.stack.udpRecv(server); d; d = wire.b.stack.udpRecv(server)) {
      assert.equal(d.address, '10.213.0.1');
      assert.equal(d.port, clientPort);
      wire.b.stack.udpSendTo(server, d.data, d.address, d.port);
    }
    wire.pump();
    for (const m of messages) {
      const d = wire.a.stack.udpRecv(client);
      assert.ok(d && Buffer.from(d.data).equals(m));
      assert.equal(d.port, 7);
    }
    assert.equal(wire.a.stack.udpRecv(client), undefined);
    assert.throws(
      () => wire.a.stack.udpSendTo(client, new Uint8Array(1420 - 27), '10.213.0.2', 7),
      /MSGSIZE/,
    );
  });

  it('a full UDP queue drops further datagrams and counts them', () => {
    const wire = new Wire();
    const server = wire.b.stack.udpBind('0.0.0.0', 7);
    const client = wire.a.stack.udpBind('0.0.0.0', 0);
    for (let i = 0; i < 100; i++) wire.a.stack.udpSendTo(client, new Uint8Array([i]), '10.213.0.2', 7);
    wire.pump();
    let n = 0;
    while (wire.b.stack.udpRecv(server)) n++;
    assert.equal(n, 64);
    assert.equal(wire.b.stack.stats().udpQueueDropped, 36);
  });

  it('answers an ICMP echo request with a correct echo reply', () => {
    const clock = new TestClock();
    const node = makeNode(clock, '10.213.0.2');
    const payload = randomBytes(56);
    assert.equal(node.stack.input(icmpEchoRequest('10.213.0.9', '10.213.0.2', 0x4242, 7, payload)), true);
    assert.equal(node.outbox.length, 1);
    const reply = readIpv4(node.outbox[0]!);
    assert.equal(reply.protocol, 1);
    assert.equal(reply.src, parseIPv4('10.213.0.2'));
    assert.equal(reply.dst, parseIPv4('10.213.0.9'));
    assert.equal(inetChecksum(node.outbox[0]!.subarray(0, reply.headerLength)), 0, 'IP header checksum');
    assert.equal(inetChecksum(reply.payload), 0, 'ICMP checksum');
    assert.equal(reply.payload[0], 0, 'echo reply');
    assert.deepEqual([...reply.payload.subarray(4, 8)], [0x42, 0x42, 0, 7]);
    assert.ok(Buffer.from(reply.payload.subarray(8)).equals(payload));
  });

  it('checks checksums of every length (the SIMD loop, its 16-byte steps and odd tails) against RFC 1071', () => {
    const node = makeNode(new TestClock(), '10.213.0.2');
    // Every length up to 100 bytes, and around full-size packets (MTU 1420: 1392 bytes of echo data).
    const lengths = [
      ...Array.from({ length: 101 }, (_, i) => i),
      ...Array.from({ length: 40 }, (_, i) => 1353 + i),
    ];
    for (const length of lengths) {
      const request = icmpEchoRequest('10.213.0.9', '10.213.0.2', 1, length, randomBytes(length));
      // One flipped bit anywhere after the ICMP type and code (those decide whether lwIP checks).
      const bad = request.slice();
      const bit = 22 * 8 + Math.floor(Math.random() * (request.length - 22) * 8);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      node.stack.input(bad);
      assert.equal(node.outbox.length, 0, `flipped bit ${bit} of a ${length}-byte echo was answered`);
      node.stack.input(request);
      assert.equal(node.outbox.length, 1, `a correct ${length}-byte echo was not answered`);
      const reply = readIpv4(node.outbox.pop()!);
      assert.equal(reply.payload.length, 8 + length);
      assert.equal(inetChecksum(reply.payload), 0, `ICMP checksum of a ${length}-byte reply`);
    }
    assert.equal(node.stack.stats().icmpChecksumErrors, lengths.length);
  });
});

describe('lwIP in wasm, hostile packets', () => {
  function synTo(wire: Wire): Uint8Array {
    let syn: Uint8Array | undefined;
    wire.filter = (p) => {
      syn ??= p;
      return undefined;
    };
    wire.a.stack.tcpConnect('10.213.0.2', 8080);
    wire.pump();
    wire.filter = (p) => p;
    assert.ok(syn);
    return syn;
  }

  it('drops every truncation and every single-bit flip of a SYN: no accept, no answer', () => {
    const wire = new Wire();
    wire.b.stack.tcpListen('0.0.0.0', 8080);
    const syn = synTo(wire);
    for (let len = 1; len < syn.length; len++) wire.b.stack.input(syn.subarray(0, len));
    for (let bit = 0; bit < syn.length * 8; bit++) {
      const bad = syn.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      wire.b.stack.input(bad);
    }
    assert.equal(wire.b.outbox.length, 0, 'nothing answered');
    assert.deepEqual(wire.b.stack.takeEvents(), []);
    const s = wire.b.stack.stats();
    assert.ok(
      s.ipDropped + s.tcpDropped >= syn.length * 8 + syn.length - 1 - 8,
      `dropped and counted: ${JSON.stringify(s)}`,
    );
    assert.ok(s.ipChecksumErrors > 0 && s.tcpChecksumErrors > 0);
    // The untouched SYN is still accepted.
    wire.b.stack.input(syn);
    assert.equal(wire.b.outbox.length, 1);
  });

  it('an ICMP echo with a bad checksum gets no reply and is counted', () => {
    const node = makeNode(new TestClock(), '10.213.0.2');
    const req = icmpEchoRequest('10.213.0.9', '10.213.0.2', 1, 1, randomBytes(32));
    req[30]! ^= 0xff;
    node.stack.input(req);
    assert.equal(node.outbox.length, 0);
    assert.equal(node.stack.stats().icmpChecksumErrors, 1);
  });

  it('a length field larger than the packet, a bad version and fragments are dropped', () => {
    const node = makeNode(new TestClock(), '10.213.0.2');
    const good = icmpEchoRequest('10.213.0.9', '10.213.0.2', 1, 1, randomBytes(32));
    const long = good.slice();
    new DataView(long.buffer).setUint16(2, 1000);
    long.set([0, 0], 10);
    new DataView(long.buffer).setUint16(10, inetChecksum(long.subarray(0, 20)));
    const v6 = good.slice();
    v6[0] = 0x65;
    const fragment = good.slice();
    fragment[6] = 0x20; // more fragments
    fragment.set([0, 0], 10);
    new DataView(fragment.buffer).setUint16(10, inetChecksum(fragment.subarray(0, 20)));
    for (const p of [long, v6, fragment]) node.stack.input(p);
    assert.equal(node.outbox.length, 0);
    node.stack.input(good);
    assert.equal(node.outbox.length, 1, 'a good packet is still answered');
  });

  it('refuses empty and oversized packets before lwIP and counts them', () => {
    const node = makeNode(new TestClock(), '10.213.0.2');
    assert.equal(node.stack.input(new Uint8Array(0)), false);
    assert.equal(node.stack.input(new Uint8Array(70_000)), false);
    assert.equal(node.stack.stats().inputRejected, 2);
  });

  it('survives 20,000 random packets (raw bytes and random bytes behind valid IP headers), then still works', () => {
    const wire = new Wire();
    wire.b.stack.tcpListen('0.0.0.0', 8080);
    wire.b.stack.udpBind('0.0.0.0', 7);
    for (let i = 0; i < 20_000; i++) {
      const body = randomBytes(1 + (randomBytes(2).readUInt16BE() % 1500));
      const packet = i % 2 ? body : ipv4Packet('10.213.0.1', '10.213.0.2', [1, 6, 17][i % 3]!, body);
      wire.b.stack.input(packet);
    }
    wire.b.outbox.length = 0;
    wire.b.stack.takeEvents();
    const wire2Listener = 8081;
    wire.b.stack.tcpListen('0.0.0.0', wire2Listener);
    const conn = wire.a.stack.tcpConnect('10.213.0.2', wire2Listener);
    wire.pump();
    assert.ok(wire.a.events.some((e) => e.kind === 'connected' && e.conn === conn && e.errno === 0));
  });

  it('rejects bad arguments with clear errors', () => {
    const node = makeNode(new TestClock(), '10.213.0.2');
    assert.throws(() => node.stack.tcpConnect('10.213.0.256', 80), /not an IPv4 address/);
    assert.throws(() => node.stack.tcpConnect('10.213.0.1', 70000), /not a port number/);
    assert.throws(
      () => node.stack.tcpListen('0.0.0.0', 8080) && node.stack.tcpListen('0.0.0.0', 8080),
      /ADDRINUSE/,
    );
    assert.throws(() => node.stack.tcpRecv(99), /BADF/);
    assert.throws(() => node.stack.up({ address: '10.0.0.1', prefix: 24, mtu: 1420 }), /ALREADY/);
    const fresh = makeNode(new TestClock(), '10.213.0.3');
    assert.throws(() => fresh.stack.udpBind('0.0.0.0', -1), /not a port number/);
  });
});
