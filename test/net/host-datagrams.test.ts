/**
 * The datagram calls against a hostile host: the batch codec with truncated, oversized, flipped and
 * made-up replies, and the enclave's RingDatagrams over a host that lies about counts, lengths and
 * addresses, fails, or claims sends it did not make. Every lie is refused and counted, and the next
 * honest reply is taken. The host's real UDP socket (HostDatagramSocket) is exercised on loopback.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { describe, it } from 'node:test';
import { Calls, type CallSpec } from '../../src/interface/calls.ts';
import { WireError } from '../../src/interface/codec.ts';
import { Errno, WasiError } from '../../src/interface/errno.ts';
import {
  MAX_BATCH,
  decodeDatagrams,
  encodeDatagrams,
  type OuterDatagram,
} from '../../src/interface/net-datagrams.ts';
import { RingDatagrams } from '../../src/enclave/net/host-datagrams.ts';
import { HostDatagramSocket } from '../../src/host/net-datagrams.ts';
import { datagramHandlers } from '../../src/host/calls/datagrams.ts';
import { serveCalls } from '../../src/host/calls/serve.ts';
import type { Reply } from '../../src/enclave/ring/channel.ts';

const sample: OuterDatagram[] = [
  { data: Uint8Array.of(4, 0, 0, 0, 1, 2, 3), address: '127.0.0.1', port: 51820 },
  { data: new Uint8Array(148).fill(1), address: '192.0.2.7', port: 65535 },
];

function encode(list: OuterDatagram[]): Uint8Array {
  const out = new Uint8Array(list.reduce((n, d) => n + 8 + d.data.length, 0));
  assert.equal(encodeDatagrams(list, out), out.length);
  return out;
}

describe('datagram batch codec', () => {
  it('round-trips a batch, copying the bytes out', () => {
    const bytes = encode(sample);
    const back = decodeDatagrams(bytes, 2);
    assert.deepEqual(back, sample);
    bytes[8] = 99;
    assert.equal(back[0]!.data[0], 4, 'a private copy');
  });

  it('refuses every truncation, any count but the true one, and trailing bytes', () => {
    const bytes = encode(sample);
    for (let n = 0; n < bytes.length; n++)
      assert.throws(() => decodeDatagrams(bytes.subarray(0, n), 2), WireError);
    for (const count of [0, 1, 3, -1, 1.5, MAX_BATCH + 1, Number.MAX_SAFE_INTEGER])
      assert.throws(() => decodeDatagrams(bytes, count), WireError, String(count));
    assert.throws(() => decodeDatagrams(Uint8Array.of(...bytes, 0), 2), WireError);
    assert.throws(() => decodeDatagrams(bytes, 2, 1), WireError, 'more than the enclave asked for');
  });

  it('refuses empty datagrams, port 0 and the unspecified address; length fields that lie', () => {
    const bytes = encode(sample.slice(0, 1));
    const view = new DataView(bytes.buffer);
    const variants: [string, (v: DataView) => void][] = [
      ['port 0', (v) => v.setUint16(4, 0)],
      ['address 0', (v) => v.setUint32(0, 0)],
      ['length 0', (v) => v.setUint16(6, 0)],
      ['length too long', (v) => v.setUint16(6, 8)],
      ['length too short', (v) => v.setUint16(6, 6)],
      ['length 65535', (v) => v.setUint16(6, 65535)],
    ];
    for (const [what, change] of variants) {
      const copy = bytes.slice();
      change(new DataView(copy.buffer));
      assert.throws(() => decodeDatagrams(copy, 1), WireError, what);
    }
    assert.equal(view.getUint16(6), 7);
  });

  it('never throws anything but WireError on random bytes and random single-bit flips', () => {
    const bytes = encode(sample);
    for (let bit = 0; bit < 8 * 8; bit++) {
      const copy = bytes.slice();
      copy[bit >> 3]! ^= 1 << (bit & 7);
      try {
        decodeDatagrams(copy, 2);
      } catch (error) {
        assert.ok(error instanceof WireError);
      }
    }
    for (let i = 0; i < 2000; i++) {
      const junk = crypto.getRandomValues(new Uint8Array(1 + (i % 300)));
      try {
        decodeDatagrams(junk, i % 5);
      } catch (error) {
        assert.ok(error instanceof WireError);
      }
    }
  });

  it('refuses to encode what is no datagram', () => {
    const out = new Uint8Array(1024);
    assert.throws(() => encodeDatagrams([{ data: new Uint8Array(0), address: '1.2.3.4', port: 1 }], out));
    assert.throws(() => encodeDatagrams([{ data: Uint8Array.of(1), address: '1.2.3', port: 1 }], out));
    assert.throws(() => encodeDatagrams([{ data: Uint8Array.of(1), address: '1.2.3.4', port: 0 }], out));
    assert.throws(() => encodeDatagrams([{ data: new Uint8Array(2000), address: '1.2.3.4', port: 1 }], out));
  });
});

/** A host that answers each call with the next scripted reply (or error). */
class ScriptedHost {
  readonly calls: { spec: CallSpec; args: readonly bigint[]; payload: Uint8Array }[] = [];
  constructor(private readonly script: (Reply | WasiError)[]) {}
  call(spec: CallSpec, args: readonly bigint[], payload: Uint8Array = new Uint8Array(0)): Reply {
    this.calls.push({ spec, args, payload: payload.slice() });
    const next = this.script.shift();
    if (next === undefined) throw new Error('unscripted call');
    if (next instanceof WasiError) throw next;
    return next;
  }
}

describe('RingDatagrams against a lying host', () => {
  it('refuses and counts batches whose count, bytes or addresses do not add up; takes the next honest one', () => {
    const good = encode(sample);
    const bad = encode(sample);
    new DataView(bad.buffer).setUint16(4, 0); // port 0
    const host = new ScriptedHost([
      { result: 3n, data: good }, // more than are there
      { result: 1n, data: good }, // fewer than are there
      { result: 1000n, data: good }, // more than asked for
      { result: -1n, data: good },
      { result: 2n, data: good.subarray(0, good.length - 1) },
      { result: 2n, data: bad },
      new WasiError(Errno.IO),
      { result: 2n, data: good },
    ]);
    const port = new RingDatagrams(host);
    for (let i = 0; i < 7; i++) assert.deepEqual(port.receive(1_000_000n, 64), [], `reply ${i}`);
    assert.equal(port.stats.badReplies, 7);
    assert.deepEqual(port.receive(1_000_000n, 64), sample);
    assert.equal(port.stats.received, 2);
    assert.equal(host.calls[0]!.spec, Calls.netRecvBatch);
    assert.deepEqual(host.calls[0]!.args, [1_000_000n, 64n]);
  });

  it('counts sends the host says it did not make, or failed, and splits big sends into batches', () => {
    const host = new ScriptedHost([{ result: 1n, data: new Uint8Array(0) }]);
    const port = new RingDatagrams(host);
    port.send(sample);
    assert.deepEqual(port.stats, { sent: 1, received: 0, badReplies: 0, lostSends: 1 });
    assert.deepEqual(decodeDatagrams(host.calls[0]!.payload, 2), sample);

    const liar = new ScriptedHost([{ result: 99n, data: new Uint8Array(0) }, new WasiError(Errno.IO)]);
    const port2 = new RingDatagrams(liar);
    port2.send(sample);
    port2.send(sample);
    assert.deepEqual(port2.stats, { sent: 0, received: 0, badReplies: 0, lostSends: 4 });

    const many = Array.from({ length: 600 }, (_, i) => ({
      data: new Uint8Array(1452).fill(i & 255),
      address: '10.0.0.1',
      port: 1000 + i,
    }));
    const counting = new ScriptedHost(
      Array.from({ length: 100 }, () => ({ result: 0n, data: new Uint8Array(0) })),
    );
    const port3 = new RingDatagrams({
      call: (spec, args, payload) => {
        const r = counting.call(spec, args, payload);
        return { ...r, result: args[0]! };
      },
    });
    port3.send(many);
    assert.equal(port3.stats.sent, 600);
    for (const c of counting.calls) {
      assert.ok(c.payload.length <= 64 * 1024 - 16, 'each batch fits a slot');
      assert.ok(Number(c.args[0]) <= MAX_BATCH);
    }
    const all = counting.calls.flatMap((c) => decodeDatagrams(c.payload, Number(c.args[0])));
    assert.deepEqual(
      all.map((d) => d.port),
      many.map((d) => d.port),
      'in order, none lost',
    );
  });
});

describe('the datagram handlers (the host side) against a hostile enclave', () => {
  const table = { netSendBatch: Calls.netSendBatch, netRecvBatch: Calls.netRecvBatch };
  // No network: a well-formed request reaches the handler, which answers EIO; a malformed one never does.
  const serve = serveCalls(table, datagramHandlers(undefined));
  const send = (count: bigint, payload: Uint8Array): number =>
    serve({
      callId: Calls.netSendBatch.id,
      seq: 1,
      args: [count],
      payload,
      replyLimit: 0,
      data: new Uint8Array(0),
    }).errno;

  it('refuses a send batch whose count or entries do not add up, before anything is sent', () => {
    const good = encode(sample);
    const portZero = encode(sample);
    new DataView(portZero.buffer).setUint16(4, 0);
    assert.equal(send(2n, good), Errno.IO, 'well-formed: only the missing network fails it');
    for (const [count, payload, what] of [
      [3n, good, 'more than are there'],
      [1n, good, 'fewer than are there'],
      [-1n, good, 'negative count'],
      [BigInt(MAX_BATCH) + 1n, good, 'over the batch limit'],
      [2n, good.subarray(0, good.length - 1), 'truncated'],
      [2n, portZero, 'port 0'],
      [1n, new Uint8Array(0), 'empty payload'],
    ] as const)
      assert.equal(send(count, payload), Errno.INVAL, what);
  });

  it('answers a receive without a network with EIO, and refuses an impossible count', () => {
    const recv = (max: bigint): number =>
      serve({
        callId: Calls.netRecvBatch.id,
        seq: 1,
        args: [0n, max],
        payload: new Uint8Array(0),
        replyLimit: 1024,
        data: new Uint8Array(1024),
      }).errno;
    assert.equal(recv(8n), Errno.IO);
    assert.equal(recv(-1n), Errno.INVAL);
  });
});

describe('HostDatagramSocket (the host side) on loopback', () => {
  it('queues what arrives, hands it out in bounded batches, waits for the first, sends', async () => {
    const host = await HostDatagramSocket.open(0, '127.0.0.1');
    const peer = createSocket('udp4');
    try {
      await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
      const started = Date.now();
      assert.deepEqual(await host.receive(50, 8, 60_000), [], 'nothing yet: waits, then returns none');
      assert.ok(Date.now() - started >= 40);
      const waiting = host.receive(5_000, 8, 60_000);
      for (let i = 0; i < 5; i++) peer.send(Uint8Array.of(i + 1, 2, 3), host.port, '127.0.0.1');
      const first = await waiting;
      assert.ok(first.length >= 1);
      await new Promise((r) => setTimeout(r, 100));
      const rest = await host.receive(0, 2, 60_000);
      assert.ok(rest.length <= 2);
      const more = await host.receive(0, 8, 8 + 3); // room for exactly one
      const all = [...first, ...rest, ...more, ...(await host.receive(0, 8, 60_000))];
      assert.deepEqual(
        all.map((d) => d.data[0]),
        [1, 2, 3, 4, 5],
      );
      assert.ok(all.every((d) => d.address === '127.0.0.1' && d.port === peer.address().port));
      const got = new Promise<Buffer>((r) => peer.once('message', r));
      assert.equal(
        host.send([{ data: Uint8Array.of(9, 9), address: '127.0.0.1', port: peer.address().port }]),
        1,
      );
      assert.deepEqual([...(await got)], [9, 9]);
    } finally {
      host.close();
      peer.close();
    }
  });
});
