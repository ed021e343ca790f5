/**
 * Interop with the real peer: wireguard-go (Debian's) in a network namespace this test creates,
 * against Cloister's TypeScript WireGuard with lwIP behind it, over a loopback UDP socket. Every
 * address of the tunnel lives inside the namespace or in the test's own stacks.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TunnelHost } from './helpers/tunnel-host.ts';
import { WireGuardGoPeer, interopUnavailable } from './helpers/wg-peer.ts';
import { cidr } from './helpers/wg-pair.ts';
import {
  decodeKey,
  encodeKey,
  generatePrivateKey,
  publicKey,
} from '../../src/enclave/net/wireguard/crypto.ts';

const skip = interopUnavailable();

/** A host for tunnel address `address`, registered with wireguard-go as a peer (and it with the host). */
async function hostFor(peer: WireGuardGoPeer, address: string, loadThreshold?: number): Promise<TunnelHost> {
  const key = generatePrivateKey();
  const host = new TunnelHost({ privateKey: key, tunnelAddress: address, loadThreshold });
  const port = await host.start();
  host.addPeer({
    publicKey: decodeKey(peer.publicKey)!,
    endpoint: { address: '127.0.0.1', port: peer.listenPort },
    allowedIPs: [cidr('10.213.77.2/32')],
  });
  peer.setPeer({
    publicKey: encodeKey(publicKey(key)),
    endpoint: `127.0.0.1:${port}`,
    allowedIPs: `${address}/32`,
  });
  return host;
}

describe('WireGuard interop with wireguard-go in a network namespace', { skip }, () => {
  const peer = skip ? undefined : new WireGuardGoPeer();
  const hosts: TunnelHost[] = [];

  before(async () => {
    await peer!.start('10.213.77.2/24');
  });

  after(() => {
    for (const h of hosts) h.stop();
    peer?.stop();
  });

  it('wireguard-go initiates, Cloister responds: ping from the namespace is answered by lwIP behind the tunnel', async () => {
    const host = await hostFor(peer!, '10.213.77.1');
    hosts.push(host);
    const r = await peer!.exec('ping', ['-c', '3', '-i', '0.2', '-W', '5', '10.213.77.1'], 30_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /3 packets transmitted, 3 received/);
    assert.equal(host.device.stats.handshakesInitiated, 0, 'Cloister was the responder');
    assert.equal(host.device.stats.handshakesCompleted, 1);
    assert.ok(host.stack.stats().icmpSent >= 3, 'lwIP sent the echo replies');
  });

  it('Cloister initiates: an lwIP TCP client talks to nc in the namespace, both directions', async () => {
    const host = await hostFor(peer!, '10.213.77.3');
    hosts.push(host);
    const nc = peer!.exec('nc', ['-l', '-N', '10.213.77.2', '7777'], 30_000, 'reply from the namespace\n');
    await new Promise((r) => setTimeout(r, 300)); // nc listening
    const received: Uint8Array[] = [];
    const done = new Promise<void>((resolve, reject) => {
      host.onEvent = (e) => {
        if (e.kind === 'connected') {
          if (e.errno !== 0) return reject(new Error(`connect failed: errno ${e.errno}`));
          host.write(e.conn, new TextEncoder().encode('hello from lwIP in the enclave\n'), true);
        }
        if (e.kind === 'readable') received.push(host.stack.tcpRecv(e.conn));
        if (e.kind === 'eof') {
          host.stack.tcpClose(e.conn);
          resolve();
        }
      };
    });
    host.stack.tcpConnect('10.213.77.2', 7777);
    await done;
    const out = await nc;
    assert.equal(out.stdout, 'hello from lwIP in the enclave\n');
    assert.equal(Buffer.concat(received).toString(), 'reply from the namespace\n');
    assert.ok(host.device.stats.handshakesInitiated >= 1, 'Cloister was the initiator');
    assert.equal(host.device.stats.handshakesCompleted, 1);
  });

  it('curl in the namespace fetches a page from an lwIP server; the host carried only padded ciphertext', async () => {
    const host = hosts[0]!;
    const body = Buffer.from(
      Array.from({ length: 4000 }, (_, i) => `line ${i} of a page served by lwIP inside the tunnel\n`).join(
        '',
      ),
    );
    const listener = host.stack.tcpListen('0.0.0.0', 8080);
    const requests = new Map<number, string>();
    host.onEvent = (e) => {
      if (e.kind === 'accept' && e.listener === listener) requests.set(e.conn, '');
      if (e.kind === 'readable' && requests.has(e.conn)) {
        const text = requests.get(e.conn)! + Buffer.from(host.stack.tcpRecv(e.conn)).toString();
        requests.set(e.conn, text);
        if (text.includes('\r\n\r\n')) {
          const head = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
          host.write(e.conn, Buffer.concat([Buffer.from(head), body]), true);
        }
      }
      if (e.kind === 'eof') host.stack.tcpClose(e.conn);
    };
    host.seen.length = 0;
    const r = await peer!.exec('curl', ['-sS', '--max-time', '20', 'http://10.213.77.1:8080/'], 30_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      createHash('sha256').update(r.stdout).digest('hex'),
      createHash('sha256').update(body).digest('hex'),
      'the whole page arrived',
    );
    assert.ok(host.seen.length > 20);
    const wire = Buffer.concat(host.seen.map((d) => d.data));
    const innerAddresses = Buffer.from([10, 213, 77, 1, 10, 213, 77, 2]); // as in an IP header: src, dst
    for (const needle of ['HTTP/1.1', 'curl', 'of a page served', innerAddresses])
      assert.equal(wire.indexOf(needle), -1, String(needle));
    for (const d of host.seen) {
      assert.ok([1, 2, 3, 4].includes(d.data[0]!));
      if (d.data[0] === 4) assert.equal((d.data.length - 32) % 16, 0, 'transport payloads padded to 16');
    }
    host.stack.tcpClose(listener);
  });

  it('drops replayed, truncated, bit-flipped and forged datagrams from the network, accepts reordered ones, and the session survives', async () => {
    const host = hosts[0]!;
    host.onEvent = () => {};
    const held: Uint8Array[] = [];
    host.inboundFilter = (d) => {
      if (d[0] !== 4) return true;
      held.push(d.slice());
      return false;
    };
    await peer!.exec('ping', ['-c', '4', '-i', '0.2', '-W', '1', '10.213.77.1'], 30_000);
    host.inboundFilter = () => true;
    assert.ok(held.length >= 4, `held ${held.length} datagrams`);
    const from = { address: '127.0.0.1', port: peer!.listenPort };
    const s = host.device.stats;
    const before = {
      received: s.transportReceived,
      replay: s.dropped.replay,
      total: host.device.droppedTotal(),
    };
    for (const d of [...held].reverse()) host.inject(d, from);
    assert.equal(s.transportReceived - before.received, held.length, 'reordered: each accepted once');
    assert.equal(s.dropped.replay, before.replay);
    for (const d of held) host.inject(d, from);
    assert.equal(s.dropped.replay - before.replay, held.length, 'replays dropped');
    const sample = held[0]!;
    host.inject(sample.subarray(0, 31), from);
    host.inject(sample.subarray(0, sample.length - 1), from);
    const flipped = sample.slice();
    flipped[20]! ^= 4;
    host.inject(flipped, from);
    const forged = sample.slice();
    forged.fill(0x5a, 8);
    host.inject(forged, from);
    assert.equal(
      host.device.droppedTotal() - before.total,
      held.length + 4,
      'each attack dropped and counted',
    );
    const r = await peer!.exec('ping', ['-c', '2', '-i', '0.2', '-W', '5', '10.213.77.1'], 30_000);
    assert.equal(r.code, 0, r.stdout);
  });

  it('roams: after Cloister moves to a new UDP port and sends, wireguard-go follows it there', async () => {
    const host = hosts[1]!; // the lwIP client's host, with a session
    const newPort = await host.rebind();
    const nc = peer!.exec('nc', ['-l', '-N', '10.213.77.2', '7778'], 30_000, '');
    await new Promise((r) => setTimeout(r, 300));
    const closed = new Promise<void>((resolve) => {
      host.onEvent = (e) => {
        if (e.kind === 'connected' && e.errno === 0)
          host.write(e.conn, new TextEncoder().encode('from the new port\n'), true);
        if (e.kind === 'readable') host.stack.tcpRecv(e.conn);
        if (e.kind === 'eof') {
          host.stack.tcpClose(e.conn);
          resolve();
        }
      };
    });
    host.stack.tcpConnect('10.213.77.2', 7778);
    await closed;
    assert.equal((await nc).stdout, 'from the new port\n');
    const endpoints = peer!.peerDump().map((l) => l[2]);
    assert.ok(
      endpoints.includes(`127.0.0.1:${newPort}`),
      `wireguard-go's endpoints: ${endpoints.join(', ')}`,
    );
    const r = await peer!.exec('ping', ['-c', '2', '-i', '0.2', '-W', '5', '10.213.77.3'], 30_000);
    assert.equal(r.code, 0, r.stdout);
  });

  it('roams: when wireguard-go moves to a new port, Cloister answers it there after its first authenticated datagram', async () => {
    const host = hosts[0]!;
    host.onEvent = () => {};
    const oldPort = peer!.listenPort;
    const newPort = peer!.changePort();
    assert.notEqual(newPort, oldPort);
    const r = await peer!.exec('ping', ['-c', '2', '-i', '0.2', '-W', '5', '10.213.77.1'], 30_000);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(host.device.peers()[0]!.endpoint?.port, newPort, 'the endpoint followed the peer');
  });

  it('under load Cloister answers wireguard-go with a cookie reply; wireguard-go retries with mac2 and gets through', async () => {
    const host = await hostFor(peer!, '10.213.77.4', 0);
    hosts.push(host);
    const r = await peer!.exec('ping', ['-c', '1', '-W', '25', '10.213.77.4'], 40_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const s = host.device.stats;
    assert.ok(s.cookieRepliesSent >= 1, 'a cookie reply was sent');
    assert.ok(s.dropped.cookieRequired >= 1, 'the first initiation (no mac2) was refused');
    assert.equal(s.handshakesCompleted, 1, 'the retry with a valid mac2 completed');
    const dump = peer!.peerDump();
    assert.equal(dump.length, 3);
    for (const line of dump) assert.notEqual(line[4], '0', `wireguard-go has a handshake with ${line[0]}`);
  });
});
