/**
 * `cloister run --net` with wasi-threads programs, and a network that keeps moving while the program
 * makes no calls or waits on stdin alone, through the real path: the enclave in a network namespace
 * the test makes, wireguard-go's UDP socket beside it and its tunnel interface in a second one, with
 * `curl`, `nc` and `ping` there (as test/net/run-net.test.ts).
 *
 * - A server with a thread per connection: a thread blocked reading its connection (a client that
 *   has sent nothing yet) keeps neither main from accepting nor another thread from serving a
 *   second client; the first client's request is sent only once the second has its answer, so a
 *   server that served one connection at a time would never answer either.
 * - A threaded program spinning in wasm without any call answers pings (the kernel pumps).
 * - A single-threaded program blocked reading stdin, or polling stdin alone, answers pings.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliPath, tempDir } from '../helpers/cli.ts';
import { assemble } from '../threads/programs.ts';
import { Child } from './helpers/child.ts';
import { spinningThreadedWat, stdinReaderWat, threadedServerWat } from './helpers/net-programs.ts';
import { WireGuardGoPeer, interopUnavailable } from './helpers/wg-peer.ts';
import { encodeKey, generatePrivateKey, publicKey } from '../../src/enclave/net/wireguard/crypto.ts';

const skip = interopUnavailable();
const dir = tempDir('cloister-run-net-threads-');

const ENCLAVE_PORT = 40010;
const ENCLAVE_ADDRESS = '10.213.80.1';
const PEER_ADDRESS = '10.213.80.2';

describe('cloister run --net: threaded programs, and programs that make no network calls', { skip }, () => {
  const outer = `clo${process.pid % 100000}t`;
  const peer = skip ? undefined : new WireGuardGoPeer();
  const children: Child[] = [];
  const key = generatePrivateKey();
  const conf = join(dir, 'wg.conf');

  const run = (args: string[]): Child => {
    const child = new Child(
      spawn('ip', ['netns', 'exec', outer, process.execPath, cliPath, 'run', '--net', conf, ...args], {
        stdio: 'pipe',
      }),
    );
    children.push(child);
    return child;
  };

  /** Pings the enclave from the peer's namespace; the first may wait for the run's handshake. */
  const ping = () => peer!.exec('ping', ['-c', '3', '-i', '0.5', '-W', '5', ENCLAVE_ADDRESS], 30_000);

  /** Ends a run and waits for it: the next run takes the same host port. */
  const finish = async (child: Child): Promise<void> => {
    child.stop();
    await child.exited;
  };

  before(async () => {
    spawnSync('ip', ['netns', 'del', outer]);
    assert.equal(spawnSync('ip', ['netns', 'add', outer]).status, 0);
    assert.equal(spawnSync('ip', ['-n', outer, 'link', 'set', 'lo', 'up']).status, 0);
    await peer!.start(`${PEER_ADDRESS}/24`, 1420, outer);
    peer!.setPeer({
      publicKey: encodeKey(publicKey(key)),
      endpoint: `127.0.0.1:${ENCLAVE_PORT}`,
      allowedIPs: `${ENCLAVE_ADDRESS}/32`,
    });
    // Every run is a new WireGuard session: its persistent keepalive makes the enclave start the
    // handshake at once (wireguard-go would otherwise send with the previous run's keys a while).
    writeFileSync(
      conf,
      [
        '[Interface]',
        `PrivateKey = ${encodeKey(key)}`,
        `Address = ${ENCLAVE_ADDRESS}/24`,
        `ListenPort = ${ENCLAVE_PORT}`,
        '',
        '[Peer]',
        `PublicKey = ${peer!.publicKey}`,
        `Endpoint = 127.0.0.1:${peer!.listenPort}`,
        `AllowedIPs = ${PEER_ADDRESS}/32`,
        'PersistentKeepalive = 1',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
  });

  after(() => {
    for (const c of children) c.stop();
    peer?.stop();
    spawnSync('ip', ['netns', 'del', outer]);
  });

  it('a server with a thread per connection serves a second client while a thread waits on the first', async () => {
    const server = run([
      '--tcplisten',
      '0.0.0.0:8080',
      await assemble(dir, 'threaded-server', threadedServerWat(2)),
    ]);
    try {
      await server.waitFor(/threaded-server: serving/, 30_000);
      const flag = join(dir, 'second-served');
      // The first client connects at once but sends its request only once the second is served
      // (bounded: it gives up waiting after 60 s).
      const first = peer!.exec(
        'sh',
        [
          '-c',
          `(for i in $(seq 600); do [ -e ${flag} ] && break; sleep 0.1; done; printf 'GET /first HTTP/1.0\\r\\n\\r\\n') | nc -N -w 90 ${ENCLAVE_ADDRESS} 8080`,
        ],
        100_000,
      );
      await server.waitFor(/accepted 1\n/, 60_000);
      const second = await peer!.exec(
        'curl',
        ['-sS', '--max-time', '40', `http://${ENCLAVE_ADDRESS}:8080/second`],
        50_000,
      );
      writeFileSync(flag, '');
      assert.equal(second.code, 0, second.stderr + server.stdout + server.stderr);
      assert.equal(second.stdout, 'served on a thread\n');
      const firstDone = await first;
      assert.equal(firstDone.code, 0, firstDone.stderr + server.stdout + server.stderr);
      assert.match(firstDone.stdout, /^HTTP\/1\.0 200 OK\r\n[^]*\r\n\r\nserved on a thread\n$/);
      assert.equal(await server.exited, 0, server.stdout + server.stderr);
    } finally {
      await finish(server);
    }
  });

  it('a threaded program computing without any call still answers pings (the kernel pumps)', async () => {
    const spinner = run([await assemble(dir, 'spinning', spinningThreadedWat())]);
    try {
      await spinner.waitFor(/spinning/, 30_000);
      const got = await ping();
      assert.equal(got.code, 0, got.stdout + got.stderr + spinner.stderr);
      assert.match(got.stdout, /[123] received/);
    } finally {
      await finish(spinner);
    }
  });

  for (const poll of [false, true]) {
    it(`a single-threaded program ${poll ? 'polling' : 'blocked reading'} stdin alone still answers pings`, async () => {
      const reader = run([await assemble(dir, `stdin-${poll}`, stdinReaderWat(poll))]);
      try {
        await reader.waitFor(/reading stdin/, 30_000);
        const got = await ping();
        assert.equal(got.code, 0, got.stdout + got.stderr + reader.stderr);
        assert.match(got.stdout, /[123] received/);
        reader.process.stdin?.end();
        assert.equal(await reader.exited, 0, reader.stderr);
      } finally {
        await finish(reader);
      }
    });
  }
});
