// The key broker relay: the host says what failed (refused, TLS not trusted, timeout, HTTP status),
// and the enclave reads the host's reply as untrusted: a hostile relay gets a clear refusal, never
// a crash or an answer the broker did not give.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { Agent } from 'node:https';
import { after, describe, it } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KbsClient } from '../../src/enclave/kbs/client.ts';
import { relayExchange } from '../../src/host/net-relay.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { ProvisioningError, readRelayReply } from '../../src/enclave/kbs/provision.ts';
import type { RelayedRequest, RelayedResponse } from '../../src/interface/net-relay.ts';
import { selfSignedTls } from './helpers/tls.ts';

const servers: Server[] = [];
const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const get = (url: string): RelayedRequest => ({ method: 'GET', url, headers: {}, body: '' });
const decode = (data: Uint8Array): RelayedResponse =>
  JSON.parse(new TextDecoder().decode(data)) as RelayedResponse;

/** What the enclave makes of the relay's reply. */
function enclaveReads(url: string, reply: RelayedResponse | string): ReturnType<typeof readRelayReply> {
  const text = typeof reply === 'string' ? reply : JSON.stringify(reply);
  return readRelayReply(url, new TextEncoder().encode(text));
}

describe('the host relay says what failed', () => {
  it('connection refused', async () => {
    const port = await listen(createHttpServer());
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const url = `http://127.0.0.1:${port}/kbs/v0/auth`;
    const reply = decode((await relayExchange(get(url))).data);
    assert.equal(reply.failure, 'connection-refused');
    assert.throws(
      () => enclaveReads(url, reply),
      /cannot reach the key broker at http:\/\/127\.0\.0\.1:\d+: connection refused/,
    );
  });

  it('a TLS certificate the host does not trust, and the same broker once its CA is given', async () => {
    const tls = await selfSignedTls();
    const port = await listen(createHttpsServer(tls, (_req, res) => res.end('{"ok":true}')));
    const url = `https://127.0.0.1:${port}/kbs/v0/auth`;
    const refused = decode((await relayExchange(get(url))).data);
    assert.equal(refused.failure, 'tls-untrusted');
    assert.throws(() => enclaveReads(url, refused), /TLS certificate is not trusted by the host.*--kbs-ca/);
    const trusted = decode((await relayExchange(get(url), new Agent({ ca: tls.cert }))).data);
    assert.equal(trusted.status, 200);
    assert.equal(Buffer.from(enclaveReads(url, trusted).body).toString(), '{"ok":true}');
  });

  it('a TLS certificate for another name', async () => {
    const tls = await selfSignedTls();
    const port = await listen(createHttpsServer(tls, (_req, res) => res.end('{}')));
    const url = `https://localhost:${port}/`;
    const reply = decode((await relayExchange(get(url), new Agent({ ca: tls.cert }))).data);
    assert.equal(reply.failure, 'tls-name-mismatch');
  });

  it('no answer in time', async () => {
    const port = await listen(createHttpServer(() => {}));
    const url = `http://127.0.0.1:${port}/`;
    const reply = decode((await relayExchange(get(url), undefined, 300)).data);
    assert.equal(reply.failure, 'timeout');
    assert.throws(() => enclaveReads(url, reply), /no answer in time/);
  });

  it('an HTTP error page is relayed with its status, and named as not a broker reply', async () => {
    const port = await listen(
      createHttpServer((_req, res) => {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html>Bad Gateway</html>');
      }),
    );
    const url = `http://127.0.0.1:${port}/`;
    const reply = decode((await relayExchange(get(url))).data);
    assert.equal(reply.status, 502);
    const { status, body } = enclaveReads(url, reply);
    assert.equal(status, 502);
    const client = new KbsClient({
      url: `http://127.0.0.1:${port}`,
      fetch: async () => new Response(new Uint8Array(body), { status }),
      evidence: () => new Uint8Array(0),
    });
    await assert.rejects(
      client.attest(),
      /KBS 502 not-kbs: the server at http:\/\/127\.0\.0\.1:\d+ answered HTTP 502, not a key broker reply: <html>Bad Gateway<\/html>/,
    );
  });

  it('a body larger than a ring slot holds is refused by the host', async () => {
    const port = await listen(createHttpServer((_req, res) => res.end(Buffer.alloc(100_000, 0x41))));
    const reply = decode((await relayExchange(get(`http://127.0.0.1:${port}/`))).data);
    assert.equal(reply.failure, 'too-large');
  });
});

describe('the enclave reads a hostile relay reply', () => {
  const url = 'http://127.0.0.1:8080/kbs/v0/auth';
  const refused = (reply: RelayedResponse | string, pattern: RegExp): void =>
    assert.throws(
      () => enclaveReads(url, reply),
      (error: unknown) => error instanceof ProvisioningError && pattern.test(error.message),
    );

  it('refuses malformed replies', () => {
    refused('not json', /malformed HTTP response/);
    refused('null', /malformed HTTP response/);
    refused('[]', /malformed HTTP status/);
    refused('{"status":"200","headers":{},"body":""}', /malformed HTTP status/);
    refused({ status: 0, headers: {}, body: '' }, /malformed HTTP status/);
    refused({ status: 1e9, headers: {}, body: '' }, /malformed HTTP status/);
    refused({ status: 200.5, headers: {}, body: '' }, /malformed HTTP status/);
  });

  it('names an unknown failure code as the relay failing, not as the code', () => {
    refused(
      { status: 200, headers: {}, body: '', failure: 'evil\u001b[2J' as never },
      /^cannot reach the key broker at http:\/\/127\.0\.0\.1:8080: the host relay failed$/,
    );
    // A failure code that is an Object.prototype member is no known code either.
    refused({ status: 0, headers: {}, body: '', failure: 'toString' as never }, /the host relay failed$/);
  });

  it('shows the host detail escaped and cut', () => {
    try {
      enclaveReads(url, {
        status: 0,
        headers: {},
        body: '',
        failure: 'connection-refused',
        detail: `\u001b[31mred\u0007\n${'x'.repeat(5000)}`,
      });
      assert.fail('accepted');
    } catch (error) {
      const message = (error as Error).message;
      assert.ok(
        ![...message].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
        JSON.stringify(message.slice(0, 80)),
      );
      assert.ok(message.length < 500, `${message.length} characters`);
      assert.match(message, /connection refused .*\(host: \?\[31mred\?\?x+…\)$/);
    }
  });

  it('keeps only string headers', () => {
    const reply = enclaveReads(url, {
      status: 200,
      headers: { 'set-cookie': 'a=b', bad: 7 as never, worse: { toString: 1 } as never },
      body: Buffer.from('{}').toString('base64'),
    });
    assert.deepEqual(reply.headers, { 'set-cookie': 'a=b' });
  });
});

/** A directory with a volume `v.vol`, its key `k`, and a broker's public key `broker.jwk`. */
async function volumeAndBrokerKey(): Promise<string> {
  const dir = tempDir();
  const made = await runCli([
    'volume',
    'create',
    join(dir, 'v.vol'),
    '--size',
    '4M',
    '--key-file',
    join(dir, 'k'),
    '--generate-key',
  ]);
  assert.equal(made.code, 0, made.stderr);
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(dir, 'broker.jwk'), JSON.stringify(publicKey.export({ format: 'jwk' })));
  return dir;
}

describe('a run whose broker cannot be reached says why', () => {
  it('connection refused, from cloister itself', async () => {
    const dir = await volumeAndBrokerKey();
    const port = await listen(createHttpServer());
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const url = `http://127.0.0.1:${port}`;
    const ls = await runCli([
      'volume',
      'ls',
      join(dir, 'v.vol'),
      '--key-file',
      join(dir, 'k'),
      '--kbs',
      url,
      '--kbs-key',
      join(dir, 'broker.jwk'),
    ]);
    assert.equal(ls.code, 1);
    assert.equal(ls.stdout, '');
    assert.match(ls.stderr, new RegExp(`cannot reach the key broker at ${url}: connection refused`));
    assert.doesNotMatch(ls.stderr, /returned 28/);
  });

  it('--kbs-ca is a host setting: shown as host-only, refused without --kbs or without a certificate', async () => {
    const dir = await volumeAndBrokerKey();
    writeFileSync(join(dir, 'ca.pem'), (await selfSignedTls()).cert);
    writeFileSync(join(dir, 'not.pem'), 'hello');
    const program = join(dir, 'p.wasm');
    writeFileSync(program, Buffer.from('0061736d01000000', 'hex'));
    const base = [
      'measure',
      '--volume',
      `${join(dir, 'v.vol')}::/d`,
      '--kbs',
      'https://127.0.0.1:1',
      '--kbs-key',
      join(dir, 'broker.jwk'),
    ];
    const plain = await runCli([...base, program]);
    const withCa = await runCli([...base, '--kbs-ca', join(dir, 'ca.pem'), '--explain', program]);
    assert.equal(withCa.code, 0, withCa.stderr);
    assert.ok(
      withCa.stdout.startsWith(`mrenclave ${plain.stdout.trim()}\n`),
      'the CA changed the measurement',
    );
    assert.match(
      withCa.stdout,
      /host-only \(not measured\):[\s\S]*--kbs-ca +CA certificates the host trusts/,
    );
    const notPem = await runCli([...base, '--kbs-ca', join(dir, 'not.pem'), program]);
    assert.equal(notPem.code, 2);
    assert.match(notPem.stderr, /--kbs-ca .*not\.pem: no PEM certificate in it/);
    const noKbs = await runCli(['measure', '--kbs-ca', join(dir, 'ca.pem'), program]);
    assert.equal(noKbs.code, 2);
    assert.match(noKbs.stderr, /--kbs-ca is for the https key broker given with --kbs URL/);
  });
});
