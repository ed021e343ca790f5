/**
 * lwIP behind WireGuard on both ends, in one process, across a hostile host that drops, duplicates
 * and reorders datagrams and whole batches: TCP must still deliver the right bytes, and WireGuard must
 * count every duplicate it refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { LwipStack } from '../../src/enclave/net/lwip.ts';
import type { NetEvent } from '../../src/enclave/net/lwip.ts';
import { WireGuardDevice } from '../../src/enclave/net/wireguard/device.ts';
import type { Endpoint } from '../../src/enclave/net/wireguard/device.ts';
import { generatePrivateKey, publicKey } from '../../src/enclave/net/wireguard/crypto.ts';
import { lwipModule } from './helpers/lwip-pair.ts';
import { ManualClock, cidr } from './helpers/wg-pair.ts';

/** xorshift32: the same hostile schedule on every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

interface End {
  stack: LwipStack;
  device: WireGuardDevice;
  endpoint: Endpoint;
  events: NetEvent[];
  /** Packets the device delivered from the batch being carried: lwIP takes them together (ACKs thinned). */
  inbox: Uint8Array[];
}

class HostileTunnel {
  readonly clock = new ManualClock();
  readonly inFlight: { datagram: Uint8Array; to: 'a' | 'b' }[] = [];
  readonly host = { datagrams: 0, dropped: 0, duplicated: 0, batchesDropped: 0 };
  readonly a: End;
  readonly b: End;

  constructor(
    private readonly random: () => number,
    private readonly loss: number,
  ) {
    const ka = generatePrivateKey();
    const kb = generatePrivateKey();
    this.a = this.#end(ka, kb, '10.213.3.1', { address: '127.0.0.1', port: 1 }, 'b', '10.213.3.2/32');
    this.b = this.#end(kb, ka, '10.213.3.2', { address: '127.0.0.1', port: 2 }, 'a', '10.213.3.1/32');
  }

  #end(
    own: Uint8Array,
    other: Uint8Array,
    address: string,
    endpoint: Endpoint,
    peerName: 'a' | 'b',
    allowed: string,
  ): End {
    const end = {} as End;
    end.endpoint = endpoint;
    end.events = [];
    end.inbox = [];
    end.device = new WireGuardDevice({
      privateKey: own,
      clock: this.clock,
      transmit: (datagram) => this.inFlight.push({ datagram, to: peerName }),
      deliver: (packet) => end.inbox.push(packet),
    });
    end.device.addPeer({
      publicKey: publicKey(other),
      endpoint: { address: '127.0.0.1', port: peerName === 'a' ? 1 : 2 },
      allowedIPs: [cidr(allowed)],
    });
    end.stack = new LwipStack({
      wasm: lwipModule,
      nowMs: this.clock.nowMs,
      output: (p) => end.device.send(p),
    });
    end.stack.up({ address, prefix: 24, mtu: 1420 });
    return end;
  }

  /** Carries one batch: maybe dropped whole, else shuffled, each datagram maybe dropped or duplicated. */
  carry(): void {
    const batch = this.inFlight.splice(0);
    if (batch.length === 0) return;
    if (this.random() < this.loss / 2) {
      this.host.batchesDropped++;
      return;
    }
    for (let i = batch.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [batch[i], batch[j]] = [batch[j]!, batch[i]!];
    }
    for (const { datagram, to } of batch) {
      this.host.datagrams++;
      if (this.random() < this.loss) {
        this.host.dropped++;
        continue;
      }
      const end = to === 'a' ? this.a : this.b;
      const from = to === 'a' ? this.b.endpoint : this.a.endpoint;
      end.device.receive(datagram, from);
      if (this.random() < this.loss) {
        this.host.duplicated++;
        end.device.receive(datagram, from);
      }
    }
    for (const end of [this.a, this.b]) end.stack.inputBatch(end.inbox.splice(0));
    this.a.events.push(...this.a.stack.takeEvents());
    this.b.events.push(...this.b.stack.takeEvents());
  }

  /** Advances the clock, ticking both stacks and devices. */
  step(ms: number): void {
    this.clock.ms += ms;
    for (const end of [this.a, this.b]) {
      end.stack.tick();
      end.device.tick();
    }
    this.carry();
  }
}

/** Reads everything a connection has received. */
function drain(
  stack: LwipStack,
  conn: number,
  into: Uint8Array[],
  size: Record<'a' | 'b', number>,
  side: 'a' | 'b',
) {
  for (let c = stack.tcpRecv(conn); c.length > 0; c = stack.tcpRecv(conn)) {
    into.push(c);
    size[side] += c.length;
  }
}

describe('TCP over WireGuard across a hostile host', () => {
  it('moves 2 MiB each way intact while the host drops, duplicates and reorders datagrams and batches', () => {
    const t = new HostileTunnel(rng(0x5eed), 0.05);
    const listener = t.b.stack.tcpListen('0.0.0.0', 80);
    const client = t.a.stack.tcpConnect('10.213.3.2', 80);
    let server: number | undefined;
    for (let i = 0; i < 2000 && server === undefined; i++) {
      t.step(50);
      const acc = t.b.events.find((e) => e.kind === 'accept' && e.listener === listener);
      if (acc?.kind === 'accept') server = acc.conn;
    }
    assert.ok(server !== undefined, 'connected through the lossy tunnel');
    const up = randomBytes(2 << 20);
    const down = randomBytes(2 << 20);
    const sent = { a: 0, b: 0 };
    const got = { a: [] as Uint8Array[], b: [] as Uint8Array[] };
    const size = { a: 0, b: 0 };
    for (let i = 0; i < 200_000 && (size.a < down.length || size.b < up.length); i++) {
      if (sent.a < up.length) sent.a += t.a.stack.tcpSend(client, up.subarray(sent.a, sent.a + 65536));
      if (sent.b < down.length) sent.b += t.b.stack.tcpSend(server, down.subarray(sent.b, sent.b + 65536));
      t.step(10);
      drain(t.a.stack, client, got.a, size, 'a');
      drain(t.b.stack, server, got.b, size, 'b');
    }
    assert.ok(Buffer.concat(got.b).equals(up), 'server got the client bytes');
    assert.ok(Buffer.concat(got.a).equals(down), 'client got the server bytes');
    assert.deepEqual(
      [...t.a.events, ...t.b.events].filter((e) => e.kind === 'error'),
      [],
      'no connection failed',
    );
    assert.ok(
      t.host.dropped > 50 && t.host.duplicated > 50 && t.host.batchesDropped > 0,
      JSON.stringify(t.host),
    );
    const replays = t.a.device.stats.dropped.replay + t.b.device.stats.dropped.replay;
    assert.equal(replays, t.host.duplicated, 'every duplicate refused by the replay window and counted');
    assert.equal(t.a.device.droppedTotal() + t.b.device.droppedTotal(), replays, 'nothing else was dropped');
  });
});
