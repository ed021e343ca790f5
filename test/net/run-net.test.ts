/**
 * `cloister run --net wg.conf --tcplisten 0.0.0.0:8080 -- httpd.wasm` end to end: the unmodified C
 * server of examples/net runs in the enclave, behind lwIP and the TypeScript WireGuard, and `curl`
 * in a network namespace reaches it through wireguard-go and the kernel's routing. Everything lives
 * in namespaces this test makes: an outer one holding the enclave's host socket, wireguard-go's UDP
 * socket and a relay between them that records every datagram the host carried; the peer's, holding
 * wireguard-go's tunnel interface and curl. The record must hold no plaintext and only padded
 * transport messages.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { cliPath, tempDir } from '../helpers/cli.ts';
import { Child } from './helpers/child.ts';
import { WireGuardGoPeer, interopUnavailable } from './helpers/wg-peer.ts';
import { encodeKey, generatePrivateKey, publicKey } from '../../src/enclave/net/wireguard/crypto.ts';
import { parseQuote } from '../../src/attestation/quote.ts';

const skip = interopUnavailable();
const httpd = fileURLToPath(new URL('../../examples/net/httpd.wasm', import.meta.url));
const fetch = fileURLToPath(new URL('../../examples/net/fetch.wasm', import.meta.url));
const udpecho = fileURLToPath(new URL('../../examples/net/udpecho.wasm', import.meta.url));
const relayScript = fileURLToPath(new URL('./helpers/udp-relay.mjs', import.meta.url));
const dir = tempDir('cloister-run-net-');

const ENCLAVE_PORT = 40000;
const RELAY_ENCLAVE_SIDE = 40001;
const RELAY_PEER_SIDE = 40002;
const ENCLAVE_ADDRESS = '10.213.79.1';
const PEER_ADDRESS = '10.213.79.2';

describe(
  'cloister run --net: C programs in the enclave serve and fetch through wireguard-go',
  { skip },
  () => {
    const outer = `clo${process.pid % 100000}o`;
    const peer = skip ? undefined : new WireGuardGoPeer();
    const children: Child[] = [];
    const record = join(dir, 'datagrams.jsonl');
    const key0 = generatePrivateKey();
    let server: Child;
    const conf = join(dir, 'wg.conf');

    const inOuter = (cmd: string, args: string[]): Child => {
      const child = new Child(spawn('ip', ['netns', 'exec', outer, cmd, ...args], { stdio: 'pipe' }));
      children.push(child);
      return child;
    };

    before(async () => {
      spawnSync('ip', ['netns', 'del', outer]);
      assert.equal(spawnSync('ip', ['netns', 'add', outer]).status, 0);
      assert.equal(spawnSync('ip', ['-n', outer, 'link', 'set', 'lo', 'up']).status, 0);
      await peer!.start(`${PEER_ADDRESS}/24`, 1420, outer);
      const relay = inOuter(process.execPath, [
        relayScript,
        String(RELAY_ENCLAVE_SIDE),
        String(RELAY_PEER_SIDE),
        String(ENCLAVE_PORT),
        String(peer!.listenPort),
        record,
      ]);
      await relay.waitFor(/relay ready/, 10_000);
      peer!.setPeer({
        publicKey: encodeKey(publicKey(key0)),
        endpoint: `127.0.0.1:${RELAY_PEER_SIDE}`,
        allowedIPs: `${ENCLAVE_ADDRESS}/32`,
      });
      writeFileSync(
        conf,
        [
          '[Interface]',
          `PrivateKey = ${encodeKey(key0)}`,
          `Address = ${ENCLAVE_ADDRESS}/24`,
          `ListenPort = ${ENCLAVE_PORT}`,
          '',
          '[Peer]',
          `PublicKey = ${peer!.publicKey}`,
          `Endpoint = 127.0.0.1:${RELAY_ENCLAVE_SIDE}`,
          `AllowedIPs = ${PEER_ADDRESS}/32`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      server = inOuter(process.execPath, [
        cliPath,
        'run',
        '--net',
        conf,
        '--tcplisten',
        '0.0.0.0:8080',
        httpd,
      ]);
      await server.waitFor(/httpd: serving/, 30_000);
    });

    after(() => {
      for (const c of children) c.stop();
      peer?.stop();
      spawnSync('ip', ['netns', 'del', outer]);
    });

    it('curl in the peer namespace gets a page from the enclave, and a 1 MiB body intact', async () => {
      const page = await peer!.exec(
        'curl',
        ['-sS', '--max-time', '30', `http://${ENCLAVE_ADDRESS}:8080/hello`],
        40_000,
      );
      assert.equal(page.code, 0, page.stderr + server.stderr);
      assert.equal(page.stdout, 'hello from the enclave, you asked for /hello\n');

      const size = 1 << 20;
      const big = await peer!.exec(
        'sh',
        ['-c', `curl -sS --max-time 60 http://${ENCLAVE_ADDRESS}:8080/bytes/${size} | sha256sum`],
        70_000,
      );
      assert.equal(big.code, 0, big.stderr + server.stderr);
      const expected = Buffer.alloc(size);
      for (let i = 0; i < size; i++) expected[i] = 97 + ((i % 16384) % 26);
      assert.equal(big.stdout.split(' ')[0], createHash('sha256').update(expected).digest('hex'));
    });

    it('an unmodified C client in the enclave fetches a page from a server in the peer namespace (blocking and non-blocking)', async () => {
      const web = new Child(
        spawn('ip', [
          'netns',
          'exec',
          peer!.name,
          process.execPath,
          '-e',
          `require('node:http').createServer((q, s) => s.end('page from the namespace for ' + q.url + ' ' + q.headers['user-agent'] + '\\n')).listen(8081, '${PEER_ADDRESS}', () => console.log('ready'))`,
        ]),
      );
      children.push(web);
      await web.waitFor(/ready/, 10_000);
      // The server run and the client run share the key and the host port: one at a time.
      server.stop();
      await server.exited;
      for (const mode of [[], ['-n']]) {
        const client = inOuter(process.execPath, [
          cliPath,
          'run',
          '--net',
          conf,
          fetch,
          ...mode,
          `http://${PEER_ADDRESS}:8081/from-the-enclave`,
        ]);
        const code = await Promise.race([
          client.exited,
          new Promise((r) => setTimeout(r, 60_000, 'timeout')),
        ]);
        client.stop();
        assert.equal(code, 0, `${mode.join(' ')}: ${client.stdout}\n${client.stderr}`);
        assert.equal(client.stdout, 'page from the namespace for /from-the-enclave cloister-fetch\n');
      }
    });

    it('names from [Hosts] resolve in the enclave (unknown ones do not); a C UDP echo server answers nc -u', async () => {
      // The web server of the previous test still listens in the peer namespace.
      const hostsConf = join(dir, 'wg-hosts.conf');
      writeFileSync(
        hostsConf,
        `${readFileSync(conf, 'utf8')}\n[Hosts]\nweb.peer.internal = ${PEER_ADDRESS}\n`,
        {
          mode: 0o600,
        },
      );
      const runFetch = async (url: string): Promise<Child> => {
        const client = inOuter(process.execPath, [cliPath, 'run', '--net', hostsConf, fetch, url]);
        await Promise.race([client.exited, new Promise((r) => setTimeout(r, 60_000))]);
        client.stop();
        return client;
      };
      const named = await runFetch('http://WEB.peer.internal:8081/by-name');
      assert.equal(await named.exited, 0, named.stderr);
      assert.equal(named.stdout, 'page from the namespace for /by-name cloister-fetch\n');
      const unknown = await runFetch('http://db.peer.internal:8081/');
      assert.equal(await unknown.exited, 1);
      assert.match(unknown.stderr, /fetch: db\.peer\.internal: name does not resolve/);

      // A new run is a new WireGuard session: the enclave's persistent keepalive makes it start the
      // handshake (wireguard-go would otherwise send with the previous run's keys for a while).
      const echoConf = join(dir, 'wg-echo.conf');
      writeFileSync(echoConf, `${readFileSync(conf, 'utf8')}PersistentKeepalive = 1\n`, { mode: 0o600 });
      const echo = inOuter(process.execPath, [cliPath, 'run', '--net', echoConf, udpecho, '7000', '10']);
      try {
        await echo.waitFor(/listening on UDP port 7000/, 30_000);
        for (const word of ['first datagram', 'second datagram']) {
          let got = { code: 1 as number | null, stdout: '', stderr: '' };
          // Bounded: the first datagram may wait for the handshake (nc -w gives up after 3 s idle).
          for (let attempt = 0; attempt < 5 && got.stdout !== word; attempt++)
            got = await peer!.exec(
              'sh',
              ['-c', `printf '${word}' | nc -u -w 3 ${ENCLAVE_ADDRESS} 7000`],
              20_000,
            );
          assert.equal(got.stdout, word, got.stderr + echo.stdout + echo.stderr);
        }
      } finally {
        echo.stop();
      }
      assert.match(echo.stdout, new RegExp(`15 bytes from ${PEER_ADDRESS.replaceAll('.', '\\.')}:\\d+`));
    });

    it('PrivateKey = generate, from a disk image: the key is made in the enclave, bound by the evidence, curl reaches it with that key', async () => {
      const genConf = join(dir, 'wg-generate.conf');
      writeFileSync(
        genConf,
        readFileSync(conf, 'utf8').replace(/^PrivateKey = .*$/m, 'PrivateKey = generate'),
      );
      // This time from a disk image, as the example runs it: IMG --net ... -- /bin/httpd.wasm.
      const root = join(dir, 'root');
      mkdirSync(join(root, 'bin'), { recursive: true });
      copyFileSync(httpd, join(root, 'bin', 'httpd.wasm'));
      const image = join(dir, 'app.img');
      const built = spawnSync(process.execPath, [cliPath, 'image', 'build', '--from', root, '-o', image], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(built.status, 0, built.stderr);
      const runArgs = [image, '--net', genConf, '--tcplisten', '0.0.0.0:8080', '--', '/bin/httpd.wasm'];
      const run = inOuter(process.execPath, [cliPath, 'run', ...runArgs]);
      await run.waitFor(/httpd: serving/, 30_000);
      const key = /public key ([A-Za-z0-9+/]{43}=)\n/.exec(run.stderr)?.[1];
      const evidence =
        /evidence \(quote, report data = public key, 32 zero bytes\): ([A-Za-z0-9+/=]+)\n/.exec(
          run.stderr,
        )?.[1];
      assert.ok(key && evidence, run.stderr);
      const quote = parseQuote(new Uint8Array(Buffer.from(evidence, 'base64')));
      assert.equal(quote.kind, 'sgx');
      const body = quote.body as { reportData: Uint8Array; mrEnclave: Uint8Array };
      assert.deepEqual(Buffer.from(body.reportData.subarray(0, 32)).toString('base64'), key);
      assert.ok(body.reportData.subarray(32).every((b) => b === 0));
      const measured = spawnSync(process.execPath, [cliPath, 'measure', ...runArgs], {
        encoding: 'utf8',
      });
      assert.equal(Buffer.from(body.mrEnclave).toString('hex'), measured.stdout.trim(), measured.stderr);
      assert.notEqual(key, encodeKey(publicKey(key0)), 'a new key, not the file one');
      // The peer trusts the key only now, from the evidence.
      peer!.setPeer({
        publicKey: key,
        endpoint: `127.0.0.1:${RELAY_PEER_SIDE}`,
        allowedIPs: `${ENCLAVE_ADDRESS}/32`,
      });
      peer!.removePeer(encodeKey(publicKey(key0)));
      const page = await peer!.exec(
        'curl',
        ['-sS', '--max-time', '30', `http://${ENCLAVE_ADDRESS}:8080/generated`],
        40_000,
      );
      assert.equal(page.code, 0, page.stderr + run.stderr);
      assert.equal(page.stdout, 'hello from the enclave, you asked for /generated\n');
      run.stop();
    });

    it('the host carried only WireGuard messages: no plaintext, no tunnel address, padded payloads', () => {
      assert.ok(existsSync(record));
      const datagrams = readFileSync(record, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { dir: string; data: string })
        .map((d) => ({ dir: d.dir, data: Buffer.from(d.data, 'base64') }));
      assert.ok(datagrams.length > 100, `${datagrams.length} datagrams`);
      assert.ok(datagrams.some((d) => d.dir === 'in') && datagrams.some((d) => d.dir === 'out'));
      const wire = Buffer.concat(datagrams.map((d) => d.data));
      const innerPair = Buffer.from([10, 213, 79, 1, 10, 213, 79, 2]);
      for (const needle of [
        'hello from the enclave',
        'GET /hello',
        'GET /bytes',
        'curl/',
        'cloister-fetch',
        'page from the namespace',
        'from-the-enclave',
        'peer.internal',
        '/by-name',
        'first datagram',
        'second datagram',
        'Content-Length',
        'abcdefghijklmnopqrstuvwxyz',
        innerPair,
        Buffer.from(innerPair.subarray(4).toString('hex') + innerPair.subarray(0, 4).toString('hex'), 'hex'),
      ]) {
        assert.equal(wire.indexOf(needle), -1, `found ${String(needle)} on the wire`);
      }
      for (const d of datagrams) {
        assert.ok([1, 2, 3, 4].includes(d.data[0]!), `message type ${d.data[0]}`);
        if (d.data[0] === 4) assert.equal((d.data.length - 32) % 16, 0, 'transport payloads padded to 16');
      }
    });
  },
);
