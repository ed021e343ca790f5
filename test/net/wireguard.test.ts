import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { WgPair, cidr } from './helpers/wg-pair.ts';
import type { InFlight } from './helpers/wg-pair.ts';
import { ipv4Packet } from './helpers/packets.ts';
import { x25519 } from '@noble/curves/ed25519.js';
import { dh, hchacha20, generatePrivateKey, publicKey } from '../../src/enclave/net/wireguard/crypto.ts';
import { WireGuardDevice, openTransport, sealTransport } from '../../src/enclave/net/wireguard/device.ts';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { MacStamper } from '../../src/enclave/net/wireguard/cookie.ts';
import { createInitiation, identity, tai64n } from '../../src/enclave/net/wireguard/noise.ts';
import { ReplayWindow, WINDOW_SIZE } from '../../src/enclave/net/wireguard/replay.ts';

const fromAlice = (payload: Uint8Array) => ipv4Packet('10.213.1.1', '10.213.1.2', 17, payload);
const fromBob = (payload: Uint8Array) => ipv4Packet('10.213.1.2', '10.213.1.1', 17, payload);

/** A pair with an established session (Alice initiated); the wire is empty afterwards. */
function established(options?: ConstructorParameters<typeof WgPair>[0]): WgPair {
  const pair = new WgPair(options);
  pair.alice.device.send(fromAlice(new TextEncoder().encode('hello')));
  pair.carry();
  assert.equal(pair.bob.delivered.length, 1);
  pair.bob.delivered.length = 0;
  return pair;
}

/** Alice sends `n` packets; returns the datagrams without carrying them. */
function capture(pair: WgPair, n: number): InFlight[] {
  for (let i = 0; i < n; i++) pair.alice.device.send(fromAlice(Uint8Array.of(i, i, i)));
  return pair.wire.splice(0);
}

describe('WireGuard primitives', () => {
  it('HChaCha20 matches draft-irtf-cfrg-xchacha §2.2.1', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const nonce = Buffer.from('000000090000004a0000000031415927', 'hex');
    assert.equal(
      Buffer.from(hchacha20(key, nonce)).toString('hex'),
      '82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc',
    );
  });

  it('X25519 matches RFC 7748 §5.2 and §6.1, and refuses low-order points', () => {
    const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : 'none');
    const bytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
    // §5.2: unclamped scalars, and a u-coordinate with its top bit set (ignored)
    assert.equal(
      hex(
        dh(
          bytes('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
          bytes('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
        ),
      ),
      'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
    );
    assert.equal(
      hex(
        dh(
          bytes('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'),
          bytes('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'),
        ),
      ),
      '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
    );
    // §6.1: both public keys and the shared secret from either side
    const alice = bytes('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bob = bytes('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    assert.equal(hex(publicKey(alice)), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    assert.equal(hex(publicKey(bob)), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    assert.equal(hex(dh(alice, publicKey(bob))), shared);
    assert.equal(hex(dh(bob, publicKey(alice))), shared);
    // points of small order give an all-zero secret: refused, so a handshake with them fails
    for (const u of [
      '00'.repeat(32),
      '01' + '00'.repeat(31),
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    ])
      assert.equal(dh(alice, bytes(u)), undefined, u);
    assert.equal(dh(alice.subarray(1), publicKey(bob)), undefined, 'short private key');
    assert.equal(dh(alice, publicKey(bob).subarray(1)), undefined, 'short public key');
    // and agrees with an independent implementation (@noble/curves) on random keys
    for (let i = 0; i < 8; i++) {
      const a = generatePrivateKey();
      const b = randomBytes(32);
      assert.equal(hex(publicKey(a)), hex(x25519.getPublicKey(a)));
      assert.equal(hex(dh(a, publicKey(b))), hex(x25519.getSharedSecret(a, publicKey(b))));
    }
  });

  it('the replay window takes each counter once, out of order inside the window, none behind it', () => {
    const w = new ReplayWindow();
    const limit = 2 ** 50;
    assert.ok(WINDOW_SIZE >= 2048);
    assert.equal(w.accept(0, limit), true);
    assert.equal(w.accept(0, limit), false);
    assert.equal(w.accept(10, limit), true);
    for (const c of [5, 9, 1]) assert.equal(w.accept(c, limit), true);
    assert.equal(w.accept(5, limit), false);
    assert.equal(w.accept(10 + WINDOW_SIZE + 100, limit), true);
    assert.equal(w.accept(10, limit), false, 'now behind the window');
    assert.equal(w.accept(110 + WINDOW_SIZE - 1, limit), true, 'inside the window, never seen');
    assert.equal(w.accept(1e9, limit), true);
    assert.equal(w.accept(limit, limit), false);
    assert.equal(w.accept(-1, limit), false);
    assert.equal(w.accept(2 ** 53, 2 ** 60), false);
  });
  it('transport messages are ChaCha20-Poly1305 under the counter nonce, padded to 16, as @noble/ciphers computes them', () => {
    const key = new Uint8Array(randomBytes(32));
    // Counters whose high 32 bits matter too: the nonce takes all 8 bytes of the message's field.
    for (const counter of [0, 1, 2 ** 32 - 1, 2 ** 32 + 5, 2 ** 52 + 3]) {
      for (const length of [0, 1, 15, 16, 17, 1420]) {
        const packet = new Uint8Array(randomBytes(length));
        const message = sealTransport(key, 0x01020304, counter, packet);
        const nonce = new Uint8Array(12);
        new DataView(nonce.buffer).setBigUint64(4, BigInt(counter), true);
        const padded = new Uint8Array(Math.ceil(length / 16) * 16);
        padded.set(packet);
        const expected = chacha20poly1305(key, nonce).encrypt(padded);
        assert.deepEqual([...message.subarray(0, 8)], [4, 0, 0, 0, 4, 3, 2, 1]);
        assert.equal(new DataView(message.buffer, message.byteOffset).getBigUint64(8, true), BigInt(counter));
        assert.ok(Buffer.from(message.subarray(16)).equals(expected), `counter ${counter}, ${length} bytes`);
        const opened = openTransport(key, message);
        assert.ok(opened && Buffer.from(opened).equals(padded));
        // The same body under the neighbouring counter does not open: the nonce is the counter.
        const moved = message.slice();
        moved[8]! ^= 1;
        assert.equal(openTransport(key, moved), undefined);
      }
    }
  });
});

describe('WireGuard handshake and transport (two devices)', () => {
  it('completes the handshake with the whitepaper message sizes and carries packets both ways', () => {
    const pair = new WgPair();
    const secret = new TextEncoder().encode('attack at dawn, bring the good sandwiches');
    pair.alice.device.send(fromAlice(secret));
    assert.equal(pair.wire.length, 1);
    assert.equal(pair.wire[0]!.datagram.length, 148, 'initiation');
    const seen: Uint8Array[] = [];
    pair.carry((d) => (seen.push(d.datagram), d));
    assert.deepEqual(
      seen.map((d) => [d[0], d.length]),
      [
        [1, 148],
        [2, 92],
        [4, 16 + 64 + 16], // the queued 61-byte packet padded to 64
      ],
    );
    assert.equal(pair.bob.delivered.length, 1);
    assert.ok(Buffer.from(pair.bob.delivered[0]!).equals(Buffer.from(fromAlice(secret))));
    pair.bob.device.send(fromBob(secret));
    pair.carry((d) => (seen.push(d.datagram), d));
    assert.ok(Buffer.from(pair.alice.delivered[0]!).equals(Buffer.from(fromBob(secret))));
    for (const d of seen) {
      assert.equal(Buffer.from(d).indexOf(Buffer.from('sandwiches')), -1, 'no plaintext on the wire');
      if (d[0] === 4) assert.equal((d.length - 32) % 16, 0, 'padded to 16');
    }
    assert.equal(pair.alice.device.stats.handshakesCompleted, 1);
    assert.equal(pair.bob.device.stats.handshakesCompleted, 1);
    assert.equal(pair.alice.device.droppedTotal() + pair.bob.device.droppedTotal(), 0);
  });

  it('with a preshared key on both sides the handshake completes; a mismatched one fails', () => {
    established({ psk: randomBytes(32) });
    const pair = new WgPair({ psk: randomBytes(32) });
    // Only Bob's copy of the key differs: rebuild Bob's peer entry with another PSK.
    const bob = new WireGuardDevice({
      privateKey: pair.bob.privateKey,
      clock: pair.clock,
      transmit: (datagram, to) => pair.wire.push({ datagram, from: pair.bob.endpoint, to }),
      deliver: () => assert.fail('nothing may be delivered'),
    });
    bob.addPeer({
      publicKey: publicKey(pair.alice.privateKey),
      presharedKey: randomBytes(32),
      allowedIPs: [cidr('10.213.1.1/32')],
    });
    (pair.bob as { device: WireGuardDevice }).device = bob;
    pair.alice.device.send(fromAlice(Uint8Array.of(1)));
    pair.carry();
    assert.equal(pair.alice.device.stats.dropped.badHandshake, 1, 'the response does not authenticate');
    assert.equal(pair.alice.device.stats.handshakesCompleted, 0);
  });

  it('an initiation from an unknown key, or replayed, is dropped and counted', () => {
    const pair = new WgPair({ bobKnowsAlice: false });
    pair.alice.device.send(fromAlice(Uint8Array.of(1)));
    const [init] = pair.wire.splice(0);
    pair.bob.device.receive(init!.datagram, init!.from);
    assert.equal(pair.bob.device.stats.dropped.unknownPeer, 1);
    assert.equal(pair.wire.length, 0, 'no response');

    const known = new WgPair();
    known.alice.device.send(fromAlice(Uint8Array.of(1)));
    const [first] = known.wire.splice(0);
    known.bob.device.receive(first!.datagram, first!.from);
    known.wire.length = 0;
    known.clock.ms += 1000;
    known.bob.device.receive(first!.datagram, first!.from);
    assert.equal(known.bob.device.stats.dropped.staleTimestamp, 1);
    assert.equal(known.wire.length, 0);
  });

  it('drops replayed, truncated, bit-flipped and forged transport datagrams; reordered ones are delivered once', () => {
    const pair = established();
    const grams = capture(pair, 6);
    const deliver = (d: InFlight, datagram = d.datagram) => pair.bob.device.receive(datagram, d.from);
    for (const i of [0, 3, 1, 2, 5, 4]) deliver(grams[i]!);
    assert.equal(pair.bob.delivered.length, 6, 'reordered inside the window: all delivered');
    for (const d of grams) deliver(d);
    assert.equal(pair.bob.device.stats.dropped.replay, 6);

    const fresh = capture(pair, 1)[0]!;
    const bytes = fresh.datagram;
    for (let len = 0; len < bytes.length; len++) deliver(fresh, bytes.subarray(0, len));
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const flipped = bytes.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      deliver(fresh, flipped);
    }
    const forged = bytes.slice();
    forged.set(randomBytes(forged.length - 8), 8); // right type and receiver index, random rest
    deliver(fresh, forged);
    const s = pair.bob.device.stats.dropped;
    assert.equal(pair.bob.delivered.length, 6, 'nothing more delivered');
    assert.equal(
      s.malformed + s.unknownIndex + s.badAuth + s.replay - 6,
      bytes.length + bytes.length * 8 + 1,
    );
    assert.ok(s.badAuth > 0 && s.malformed > 0 && s.unknownIndex > 0);
    deliver(fresh);
    assert.equal(pair.bob.delivered.length, 7, 'the session survives: the genuine datagram still works');
  });

  it('a packet whose inner source is outside the peer AllowedIPs is dropped', () => {
    const pair = established();
    pair.alice.device.send(ipv4Packet('10.213.9.9', '10.213.1.2', 17, Uint8Array.of(1)));
    pair.carry();
    assert.equal(pair.bob.device.stats.dropped.notAllowedSource, 1);
    assert.equal(pair.bob.delivered.length, 0);
  });

  it('roams: an authenticated datagram from a new address moves the endpoint, a forged one does not', () => {
    const pair = established();
    const [d] = capture(pair, 1);
    const forged = d!.datagram.slice();
    forged[40]! ^= 1;
    pair.bob.device.receive(forged, { address: '127.0.0.9', port: 999 });
    assert.deepEqual(pair.bob.device.peers()[0]!.endpoint, pair.alice.endpoint);
    pair.bob.device.receive(d!.datagram, { address: '127.0.0.7', port: 4242 });
    assert.deepEqual(pair.bob.device.peers()[0]!.endpoint, { address: '127.0.0.7', port: 4242 });
    pair.bob.device.send(fromBob(Uint8Array.of(1)));
    assert.deepEqual(pair.wire.at(-1)!.to, { address: '127.0.0.7', port: 4242 });
  });

  it('sends a keepalive 10 s after receiving data it did not answer, and persistent keepalives when asked', () => {
    const pair = established();
    pair.advance(11_000);
    assert.equal(pair.bob.device.stats.keepalivesSent, 1);
    assert.equal(pair.alice.device.stats.keepalivesReceived, 1);
    const keepalive = new WgPair();
    keepalive.alice.device.addPeer({
      publicKey: publicKey(generatePrivateKey()),
      endpoint: { address: '127.0.0.1', port: 40009 },
      allowedIPs: [cidr('10.213.7.0/24')],
      persistentKeepalive: 25,
    });
    keepalive.advance(26_000);
    assert.equal(keepalive.alice.device.stats.handshakesInitiated >= 1, true, 'keepalive starts a handshake');
  });

  it('rekeys after REKEY_AFTER_TIME when sending, and never uses a session past REJECT_AFTER_TIME', () => {
    const pair = established();
    pair.clock.ms += 121_000;
    pair.alice.device.send(fromAlice(Uint8Array.of(1)));
    assert.equal(pair.wire.length, 2, 'the data, then a new initiation');
    assert.equal(pair.wire[1]!.datagram[0], 1);
    pair.carry();
    assert.equal(pair.alice.device.stats.handshakesCompleted, 2);

    const stuck = established();
    stuck.clock.ms += 181_000;
    stuck.alice.device.send(fromAlice(Uint8Array.of(1)));
    assert.deepEqual(
      stuck.wire.map((d) => d.datagram[0]),
      [1],
      'only an initiation: the old session is not used',
    );
  });

  it('retries an unanswered handshake every REKEY_TIMEOUT and gives up after REKEY_ATTEMPT_TIME', () => {
    const pair = new WgPair();
    pair.alice.device.send(fromAlice(Uint8Array.of(1)));
    let initiations = 0;
    for (let t = 0; t < 120_000; t += 500) {
      pair.clock.ms += 500;
      pair.alice.device.tick();
      initiations += pair.wire.splice(0).length;
    }
    assert.ok(initiations >= 16 && initiations <= 19, `${initiations} retries in 90 s`);
  });
});

describe('WireGuard under a flood of initiations', () => {
  it('demands mac2: floods get cookie replies without Diffie-Hellman, a real peer proves its address and gets in', () => {
    const pair = new WgPair({ loadThreshold: 10 });
    const bobPublic = publicKey(pair.bob.privateKey);
    const attacker = identity(generatePrivateKey());
    const stamper = new MacStamper(bobPublic);
    // One valid-mac1 initiation, sent again and again from ever new source ports.
    const floodMessage = createInitiation(attacker, bobPublic, 7, tai64n(Date.now()))!.message;
    stamper.stamp(floodMessage, pair.clock.ms);
    const flood = (n: number) => {
      for (let i = 0; i < n; i++)
        pair.bob.device.receive(floodMessage, { address: '127.0.0.66', port: 10_000 + i });
    };
    flood(200);
    const s = pair.bob.device.stats;
    assert.equal(s.dropped.unknownPeer, 10, 'only the first 10 of the second were processed');
    assert.equal(s.dropped.cookieRequired, 190);
    assert.equal(s.cookieRepliesSent, 190);
    assert.ok(pair.wire.every((d) => d.datagram.length === 64 && d.datagram[0] === 3));
    pair.wire.length = 0;

    // Alice, under the same flood, gets a cookie reply, then retries with mac2 and completes.
    pair.alice.device.send(fromAlice(Uint8Array.of(42)));
    pair.carry();
    assert.equal(pair.alice.device.stats.cookieRepliesAccepted, 1);
    assert.equal(pair.bob.delivered.length, 0);
    for (let i = 0; i < 12 && pair.bob.delivered.length === 0; i++) {
      flood(50);
      pair.clock.ms += 500;
      pair.alice.device.tick();
      pair.carry((d) => (d.to.address === '127.0.0.66' ? undefined : d));
    }
    assert.equal(pair.bob.delivered.length, 1, 'the queued packet arrived');
    assert.equal(pair.alice.device.stats.handshakesCompleted, 1);
  });

  it('under load, a source that proved its address with mac2 is still held to 20 handshakes a second', () => {
    const pair = new WgPair({ loadThreshold: 0 });
    const bobPublic = publicKey(pair.bob.privateKey);
    const attacker = identity(generatePrivateKey());
    const stamper = new MacStamper(bobPublic);
    const source = { address: '127.0.0.66', port: 5000 };
    const message = () => {
      const m = createInitiation(attacker, bobPublic, 9, tai64n(Date.now()))!.message;
      stamper.stamp(m, pair.clock.ms);
      return m;
    };
    const first = message();
    pair.bob.device.receive(first, source); // no mac2 yet: a cookie reply
    const [reply] = pair.wire.splice(0);
    assert.equal(reply!.datagram[0], 3);
    assert.equal(stamper.consumeCookieReply(reply!.datagram, pair.clock.ms), true);
    const withMac2 = message(); // the attacker now sends valid mac2s from its own address
    for (let i = 0; i < 100; i++) pair.bob.device.receive(withMac2, source);
    const s = pair.bob.device.stats.dropped;
    assert.equal(s.unknownPeer, 5, 'a burst of 5 got as far as the Diffie-Hellman');
    assert.equal(s.rateLimited, 95);
    pair.clock.ms += 1000;
    for (let i = 0; i < 100; i++) pair.bob.device.receive(withMac2, source);
    assert.equal(s.unknownPeer, 10, 'refilled at 20 a second, capped at the burst');
    // Another address is not held back by this one's bucket.
    pair.bob.device.receive(withMac2, { address: '127.0.0.67', port: 5000 });
    assert.equal(s.cookieRequired, 2, 'it needs its own cookie first');
  });

  it('a cookie reply that does not decrypt is dropped', () => {
    const pair = new WgPair();
    pair.alice.device.send(fromAlice(Uint8Array.of(1)));
    const [init] = pair.wire.splice(0);
    const reply = new Uint8Array(64);
    reply[0] = 3;
    reply.set(init!.datagram.subarray(4, 8), 4);
    reply.set(randomBytes(56), 8);
    pair.alice.device.receive(reply, pair.bob.endpoint);
    assert.equal(pair.alice.device.stats.dropped.badCookieReply, 1);
  });
});
