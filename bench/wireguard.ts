// WireGuard transport and handshakes in TypeScript (src/enclave/net/wireguard), and lwIP TCP through
// it, against one core's per-packet ChaCha20-Poly1305 ceiling measured in the same run: the faster of
// node:crypto (used) and @noble/ciphers (pure JS), whichever is faster for that packet size.
// Everything runs in this one thread: a send is sealed, "carried" and opened on the same core.
// Then wireguard-go <-> wireguard-go in two namespaces (root), per CPU-second of both ends.
// Run: node --import tsx bench/wireguard.ts [MiB per run] [rounds]
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { readFileSync } from 'node:fs';
import { WireGuardDevice, openTransport, sealTransport } from '../src/enclave/net/wireguard/device.ts';
import type { Endpoint } from '../src/enclave/net/wireguard/device.ts';
import { dh, generatePrivateKey, publicKey } from '../src/enclave/net/wireguard/crypto.ts';
import { LwipStack, compileLwip } from '../src/enclave/net/lwip.ts';
import { parseCidr4 } from '../src/enclave/net/ipv4.ts';
import { median, printTable } from './lib.ts';
import { pairUnavailable, wireguardGoPair } from './wireguard-go-pair.ts';

const MIB = Number(process.argv[2] ?? 64);
const BYTES = MIB << 20;
const key = randomBytes(32);

/**
 * MiB per CPU-second of `bytes` processed by `f`: CPU time (user + system) rather than wall time, so
 * that other jobs on a shared machine slow the figures less (GC helper threads count too).
 */
function rate(bytes: number, f: () => void): number {
  const t = process.cpuUsage();
  f();
  const used = process.cpuUsage(t);
  return bytes / (1 << 20) / ((used.user + used.system) / 1e6);
}

/** node:crypto alone: seal then open each packet, a fresh cipher per packet as any per-packet AEAD needs. */
function nodeAead(packetSize: number): number {
  const packet = randomBytes(packetSize);
  const nonce = Buffer.alloc(12);
  const n = Math.floor(BYTES / packetSize);
  return rate(n * packetSize, () => {
    for (let i = 0; i < n; i++) {
      nonce.writeUInt32LE(i, 4);
      const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      const ct = c.update(packet);
      c.final();
      const tag = c.getAuthTag();
      const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      d.setAuthTag(tag);
      d.update(ct);
      d.final();
    }
  });
}

/** @noble/ciphers (pure JS) doing the same, into buffers allocated once: its best case. */
function nobleAead(packetSize: number): number {
  const packet = new Uint8Array(randomBytes(packetSize));
  const nonce = new Uint8Array(12);
  const view = new DataView(nonce.buffer);
  const sealed = new Uint8Array(packetSize + 16);
  const opened = new Uint8Array(packetSize);
  const n = Math.floor(BYTES / packetSize);
  return rate(n * packetSize, () => {
    for (let i = 0; i < n; i++) {
      view.setUint32(4, i, true);
      chacha20poly1305(key, nonce).encrypt(packet, sealed);
      chacha20poly1305(key, nonce).decrypt(sealed, opened);
    }
  });
}

/** Both give the same bytes (the comparison is of one algorithm). */
function checkAeadsAgree(): void {
  const nonce = randomBytes(12);
  const packet = randomBytes(1420);
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  const viaNode = Buffer.concat([c.update(packet), c.final(), c.getAuthTag()]);
  if (!viaNode.equals(chacha20poly1305(key, nonce).encrypt(packet)))
    throw new Error('node:crypto and @noble/ciphers disagree');
}

/** node:crypto over 1 MiB chunks: the cipher's own speed, without per-packet set-up. */
function bulkAead(): number {
  const chunk = randomBytes(1 << 20);
  return rate(BYTES, () => {
    for (let i = 0; i < MIB; i++) {
      const c = createCipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: 16 });
      c.update(chunk);
      c.final();
    }
  });
}

/** Milliseconds per X25519 shared-secret computation: node:crypto with raw keys (used) and @noble/curves. */
function x25519Ms(runs: number): { noble: number; node: number } {
  const a = generatePrivateKey();
  const b = publicKey(generatePrivateKey());
  let t = performance.now();
  for (let i = 0; i < runs; i++) dh(a, b);
  const node = (performance.now() - t) / runs;
  t = performance.now();
  for (let i = 0; i < runs; i++) x25519.getSharedSecret(a, b);
  return { noble: (performance.now() - t) / runs, node };
}

/** Microseconds of CPU per call of `f`, over `n` calls. */
function perCallUs(n: number, f: (i: number) => void): number {
  const t = process.cpuUsage();
  for (let i = 0; i < n; i++) f(i);
  const used = process.cpuUsage(t);
  return (used.user + used.system) / n;
}

/**
 * Ways of driving node:crypto's ChaCha20-Poly1305 for one packet, each step on its own: what a
 * packet costs before any byte is encrypted, and which call it goes to. 1424 bytes is a 1420-byte
 * packet padded to 16; the device seals and opens exactly this.
 */
function cryptoCallMeasures(): Record<string, () => number> {
  const n = 20_000;
  const nonce = Buffer.alloc(12);
  const keyObject = createSecretKey(key);
  const packet = randomBytes(1424);
  const small = randomBytes(16);
  const options = { authTagLength: 16 };
  const sealed = (p: Uint8Array) => {
    const c = createCipheriv('chacha20-poly1305', key, nonce, options);
    const body = c.update(p);
    c.final();
    return { body, tag: c.getAuthTag() };
  };
  const big = sealed(packet);
  const little = sealed(small);
  const open = (m: { body: Uint8Array; tag: Uint8Array }) => {
    const d = createDecipheriv('chacha20-poly1305', key, nonce, options);
    d.setAuthTag(m.tag);
    d.update(m.body);
    d.final();
  };
  const chunk = randomBytes(1 << 20);
  return {
    createOptions: () => perCallUs(n, () => createCipheriv('chacha20-poly1305', key, nonce, options)),
    createBare: () => perCallUs(n, () => createCipheriv('chacha20-poly1305', key, nonce)),
    createKeyObject: () => perCallUs(n, () => createCipheriv('chacha20-poly1305', keyObject, nonce)),
    createDecipher: () => perCallUs(n, () => createDecipheriv('chacha20-poly1305', key, nonce, options)),
    update16: () =>
      perCallUs(n, () => createCipheriv('chacha20-poly1305', key, nonce, options).update(small)),
    update1424: () =>
      perCallUs(n, () => createCipheriv('chacha20-poly1305', key, nonce, options).update(packet)),
    final: () =>
      perCallUs(n, () => {
        const c = createCipheriv('chacha20-poly1305', key, nonce, options);
        c.update(packet);
        c.final();
      }),
    seal16: () => perCallUs(n, () => sealed(small)),
    seal1424: () => perCallUs(n, () => sealed(packet)),
    open16: () => perCallUs(n, () => open(little)),
    open1424: () => perCallUs(n, () => open(big)),
    // The cipher's own work on 1424 bytes: 1 MiB chunks, the set-up spread over 736 packets' worth.
    bulk1424: () =>
      perCallUs(16, () => {
        const c = createCipheriv('chacha20-poly1305', key, nonce, options);
        c.update(chunk);
        c.final();
      }) *
      (1424 / (1 << 20)),
  };
}

/** The same through WireGuard's message layout: header, padding to 16, counter nonce. */
function transportOnly(packetSize: number): number {
  const packet = randomBytes(packetSize);
  const n = Math.floor(BYTES / packetSize);
  return rate(n * packetSize, () => {
    for (let i = 0; i < n; i++) {
      const m = sealTransport(key, 1, i, packet);
      if (!openTransport(key, m)) throw new Error('did not open');
    }
  });
}

const clock = { nowMs: () => performance.now(), wallMs: () => Date.now() };

/** Datagrams one receive from the host hands over at most (NetStack's RECEIVE_BATCH). */
const RECEIVE_BATCH = 64;

/**
 * Two devices with a session; datagrams are carried synchronously, in batches of at most
 * RECEIVE_BATCH per receiving side as NetStack.pump takes them; `afterBatch` runs after each batch a
 * side received (an lwIP stack takes the packets of one batch together).
 */
function devicePair(
  deliverToBob: (p: Uint8Array) => void,
  deliverToAlice: (p: Uint8Array) => void,
  afterBatch: (to: 'alice' | 'bob') => void = () => {},
) {
  const aKey = generatePrivateKey();
  const bKey = generatePrivateKey();
  const aEnd: Endpoint = { address: '127.0.0.1', port: 1 };
  const bEnd: Endpoint = { address: '127.0.0.1', port: 2 };
  const toAlice: Uint8Array[] = [];
  const toBob: Uint8Array[] = [];
  const alice = new WireGuardDevice({
    privateKey: aKey,
    clock,
    transmit: (d) => toBob.push(d),
    deliver: deliverToAlice,
  });
  const bob = new WireGuardDevice({
    privateKey: bKey,
    clock,
    transmit: (d) => toAlice.push(d),
    deliver: deliverToBob,
  });
  alice.addPeer({ publicKey: publicKey(bKey), endpoint: bEnd, allowedIPs: [parseCidr4('10.9.0.2/32')!] });
  bob.addPeer({ publicKey: publicKey(aKey), endpoint: aEnd, allowedIPs: [parseCidr4('10.9.0.1/32')!] });
  const carry = () => {
    while (toAlice.length || toBob.length) {
      if (toBob.length) {
        for (const d of toBob.splice(0, RECEIVE_BATCH)) bob.receive(d, aEnd);
        afterBatch('bob');
      }
      if (toAlice.length) {
        for (const d of toAlice.splice(0, RECEIVE_BATCH)) alice.receive(d, bEnd);
        afterBatch('alice');
      }
    }
  };
  return { alice, bob, carry };
}

function ipPacket(size: number): Uint8Array {
  const p = new Uint8Array(randomBytes(size));
  p[0] = 0x45;
  new DataView(p.buffer).setUint16(2, size);
  p.set([10, 9, 0, 1, 10, 9, 0, 2], 12);
  return p;
}

/** Full device path: route, seal, carry, authenticate, replay-check, deliver. */
function devices(packetSize: number): number {
  let got = 0;
  const { alice, carry } = devicePair(
    (p) => (got += p.length),
    () => {},
  );
  alice.send(ipPacket(packetSize));
  carry();
  got = 0;
  const packet = ipPacket(packetSize);
  const n = Math.floor(BYTES / packetSize);
  const r = rate(n * packetSize, () => {
    for (let i = 0; i < n; i++) {
      alice.send(packet);
      carry();
    }
  });
  if (got !== n * packetSize) throw new Error(`delivered ${got} of ${n * packetSize}`);
  return r;
}

/** Handshake: initiation, response and the first (keepalive) transport message, both sides. */
function handshakeMs(runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { alice, bob, carry } = devicePair(
      () => {},
      () => {},
    );
    const t = performance.now();
    alice.send(ipPacket(64));
    carry();
    times.push(performance.now() - t);
    if (bob.stats.handshakesCompleted !== 1) throw new Error('handshake did not complete');
  }
  return median(times);
}

/**
 * Bulk TCP from one lwIP stack to another, through two WireGuard devices or (`tunnel` false) directly,
 * driven as NetStack drives it: the packets of each received batch go into lwIP together, events are
 * taken every round.
 */
function tcpThroughTunnel(tunnel = true): { rate: number; sent: number; acks: number } {
  const wasm = compileLwip(readFileSync(new URL('../src/enclave/net/lwip.wasm', import.meta.url)));
  const inbox: { alice: Uint8Array[]; bob: Uint8Array[] } = { alice: [], bob: [] };
  const stacks: { alice?: LwipStack; bob?: LwipStack } = {};
  const feed = (to: 'alice' | 'bob') => {
    const packets = inbox[to];
    inbox[to] = [];
    stacks[to]!.inputBatch(packets);
  };
  const {
    alice,
    bob,
    carry: carryTunnel,
  } = devicePair(
    (p) => inbox.bob.push(p),
    (p) => inbox.alice.push(p),
    feed,
  );
  // Without the tunnel, packets are copied out of lwIP's memory and wait in the same inboxes.
  const a = new LwipStack({
    wasm,
    nowMs: clock.nowMs,
    output: (p) => (tunnel ? alice.send(p) : inbox.bob.push(p.slice())),
  });
  const b = new LwipStack({
    wasm,
    nowMs: clock.nowMs,
    output: (p) => (tunnel ? bob.send(p) : inbox.alice.push(p.slice())),
  });
  stacks.alice = a;
  stacks.bob = b;
  const carry = () => {
    if (tunnel) return carryTunnel();
    for (let i = 0; i < 1_000_000 && (inbox.alice.length || inbox.bob.length); i++) {
      if (inbox.bob.length) feed('bob');
      if (inbox.alice.length) feed('alice');
    }
  };
  a.up({ address: '10.9.0.1', prefix: 24, mtu: 1420 });
  b.up({ address: '10.9.0.2', prefix: 24, mtu: 1420 });
  b.tcpListen('0.0.0.0', 9);
  const conn = a.tcpConnect('10.9.0.2', 9);
  carry();
  const accepted = b.takeEvents().find((e) => e.kind === 'accept');
  if (!accepted || accepted.kind !== 'accept') throw new Error('no accept');
  const chunk = randomBytes(256 * 1024);
  let sent = 0;
  let received = 0;
  const r = rate(BYTES, () => {
    for (let rounds = 0; received < BYTES && rounds < 10_000_000; rounds++) {
      if (sent < BYTES) sent += a.tcpSend(conn, chunk.subarray(0, Math.min(chunk.length, BYTES - sent)));
      carry();
      for (let n = b.tcpRecv(accepted.conn).length; n > 0; n = b.tcpRecv(accepted.conn).length) received += n;
      carry();
      a.tick();
      b.tick();
      a.takeEvents();
      b.takeEvents();
    }
  });
  if (received !== BYTES) throw new Error(`received ${received} of ${BYTES}`);
  // Transport messages each way: the sender's carry the data, the receiver's are (thinned) ACKs.
  return { rate: r, sent: alice.stats.transportSent, acks: bob.stats.transportSent };
}

/** Medians over `ROUNDS` alternating rounds: on a shared machine the load moves between runs. */
const ROUNDS = Number(process.argv[3] ?? 5);
function medianOf(measures: Record<string, () => number>): Record<string, number> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(measures).map((k) => [k, []]));
  // Three rounds first that count for nothing: a path's first runs also pay for compiling it and
  // for the heap settling (8 MiB device-to-device runs of their own took 234, 165, 123, then
  // 95-115 ms); with no warm-up, or one round, the device looked 0.2-0.3 of the ceiling slower.
  for (let r = 0; r < 3; r++) for (const f of Object.values(measures)) f();
  for (let r = 0; r < ROUNDS; r++) for (const [name, f] of Object.entries(measures)) samples[name]!.push(f());
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

checkAeadsAgree();
const rows: (string | number)[][] = [];
for (const size of [1420, 512, 64]) {
  const m = medianOf({
    node: () => nodeAead(size),
    noble: () => nobleAead(size),
    transport: () => transportOnly(size),
    device: () => devices(size),
  });
  const ceiling = Math.max(m.node!, m.noble!);
  rows.push([
    `${size}-byte packets`,
    m.node!,
    m.noble!,
    m.transport!,
    m.transport! / ceiling,
    m.device!,
    m.device! / ceiling,
  ]);
}
printTable(
  `WireGuard transport, seal + open on one core, ${MIB} MiB per run, median of ${ROUNDS} (MiB of inner packets per CPU-second; ratios to the faster AEAD)`,
  ['', 'node:crypto AEAD', '@noble/ciphers AEAD', 'transport msgs', 'ratio', 'device to device', 'ratio'],
  rows,
);

// What one packet costs in node:crypto, call by call (the ways of driving it that the public API offers).
const c = medianOf(cryptoCallMeasures());
const sealOpen = c.seal1424! + c.open1424!;
const fixedSealOpen = c.seal16! + c.open16!;
const share = (us: number) => us / sealOpen;
printTable(
  `node:crypto ChaCha20-Poly1305 per packet, call by call, median of ${ROUNDS} (µs of CPU per call; share of a 1424-byte seal + open, ${sealOpen.toFixed(2)} µs)`,
  ['', 'µs per call', 'share'],
  [
    ['createCipheriv(raw key, { authTagLength: 16 }): the device', c.createOptions!, share(c.createOptions!)],
    ['createCipheriv(raw key), tag length left at its default 16', c.createBare!, share(c.createBare!)],
    ['createCipheriv(KeyObject made once per session)', c.createKeyObject!, share(c.createKeyObject!)],
    ['createDecipheriv(raw key, { authTagLength: 16 })', c.createDecipher!, share(c.createDecipher!)],
    ['create + update(16 B)', c.update16!, share(c.update16!)],
    ['create + update(1424 B)', c.update1424!, share(c.update1424!)],
    ['create + update(1424 B) + final()', c.final!, share(c.final!)],
    ['seal 1424 B: create + update + final + getAuthTag', c.seal1424!, share(c.seal1424!)],
    ['open 1424 B: createDecipheriv + setAuthTag + update + final', c.open1424!, share(c.open1424!)],
    ['seal + open of 16 B: the fixed cost of a packet', fixedSealOpen, share(fixedSealOpen)],
    ['the cipher work of sealing 1424 B (1 MiB chunks)', c.bulk1424!, share(c.bulk1424!)],
  ],
);

// The TCP table takes its ceiling again beside the TCP runs (both AEADs, the faster one counts).
const tcpMessages = { sent: [] as number[], acks: [] as number[] };
const t = medianOf({
  node: () => nodeAead(1420),
  noble: () => nobleAead(1420),
  tcp: () => {
    const run = tcpThroughTunnel(true);
    tcpMessages.sent.push(run.sent);
    tcpMessages.acks.push(run.acks);
    return run.rate;
  },
  direct: () => tcpThroughTunnel(false).rate,
  bulk: bulkAead,
});
const ceiling = Math.max(t.node!, t.noble!);
// node:crypto's part of TCP's CPU, from the call table: a seal + open per data message (1420 B
// packets, padded to 1424) and per ACK (40 B, padded to 48: the fixed cost and a block).
const perMiB = (count: number[]) => median(count) / MIB;
const aeadUsPerMiB = perMiB(tcpMessages.sent) * sealOpen + perMiB(tcpMessages.acks) * fixedSealOpen;
const fixedUsPerMiB = (perMiB(tcpMessages.sent) + perMiB(tcpMessages.acks)) * fixedSealOpen;
const tcpUsPerMiB = 1e6 / t.tcp!;
const aeadBound = 1e6 / aeadUsPerMiB;
printTable(
  `Bulk TCP, lwIP to lwIP through two WireGuard devices, one thread, median of ${ROUNDS} (MiB per CPU-second)`,
  ['', 'MiB per CPU-second', 'ratio to AEAD ceiling (1420 B)'],
  [
    [
      `AEAD ceiling: seal + open of 1420-byte packets (${t.node! >= t.noble! ? 'node:crypto' : '@noble/ciphers'}, the faster)`,
      ceiling,
      1,
    ],
    ['  node:crypto (a cipher object per packet)', t.node!, t.node! / ceiling],
    ['  @noble/ciphers', t.noble!, t.noble! / ceiling],
    ['TCP through the tunnel (payload bytes)', t.tcp!, t.tcp! / ceiling],
    ['TCP lwIP to lwIP without the tunnel', t.direct!, t.direct! / ceiling],
    ['ChaCha20-Poly1305 seal only, 1 MiB chunks (node:crypto)', t.bulk!, t.bulk! / ceiling],
    [
      'TCP if nothing but its seals and opens cost (bound, from the call table)',
      aeadBound,
      aeadBound / ceiling,
    ],
  ],
);
printTable(
  "Where TCP's CPU-second goes (per MiB of payload; node:crypto's part from the call table)",
  ['', 'per MiB', 'share of TCP'],
  [
    [
      'data messages (sender) / ACK messages (receiver)',
      `${perMiB(tcpMessages.sent).toFixed(0)} / ${perMiB(tcpMessages.acks).toFixed(0)}`,
      '',
    ],
    ['µs of CPU, all of TCP through the tunnel', tcpUsPerMiB, 1],
    ['µs in node:crypto seal + open', aeadUsPerMiB, aeadUsPerMiB / tcpUsPerMiB],
    ["  of which node:crypto's fixed per-packet cost", fixedUsPerMiB, fixedUsPerMiB / tcpUsPerMiB],
    [
      'µs in everything else (lwIP, device, copies, GC)',
      tcpUsPerMiB - aeadUsPerMiB,
      1 - aeadUsPerMiB / tcpUsPerMiB,
    ],
  ],
);

// The reference peer: wireguard-go <-> wireguard-go with the kernel's TCP (bench/wireguard-go-pair.ts).
// At least 64 MiB: its CPU is read from /proc in 10 ms ticks, a 16 MiB run lasts some 25 of them.
const pairSkip = pairUnavailable();
if (pairSkip) {
  process.stdout.write(`\nwireguard-go <-> wireguard-go: skipped (${pairSkip})\n`);
} else {
  const pair = await wireguardGoPair(Math.max(MIB, 64), ROUNDS);
  const perSecond = median(pair.map((p) => p.mibPerSecond));
  const perCpu = median(pair.map((p) => p.mibPerCpuSecond));
  printTable(
    `Bulk TCP per CPU-second of both tunnel ends, median of ${ROUNDS} (MiB)`,
    ['', 'MiB/s', 'MiB per CPU-second', 'ratio to wireguard-go'],
    [
      ['Cloister: lwIP + TypeScript WireGuard, both ends on one core', '', t.tcp!, t.tcp! / perCpu],
      ['  bound: its node:crypto seals and opens alone (above)', '', aeadBound, aeadBound / perCpu],
      ['wireguard-go <-> wireguard-go, kernel TCP, two namespaces', perSecond, perCpu, 1],
    ],
  );
}

const hs = handshakeMs(100);
const x = x25519Ms(100);
printTable(
  'Handshake, median of 100 (ms)',
  ['', 'ms', 'ratio to one X25519 (node:crypto)'],
  [
    ['handshake: initiation, response, first message, both sides', hs, hs / x.node],
    ['one X25519, node:crypto with raw keys (used)', x.node, 1],
    ['one X25519, @noble/curves', x.noble, x.noble / x.node],
  ],
);
