import { strict as assert } from 'node:assert';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DISK_KEY, startKbs } from './helpers/kbs.ts';
import type { TestKbs } from './helpers/kbs.ts';

/** A raw HTTP request with full control of headers and body; resolves with status and body. */
function raw(
  url: string,
  options: {
    method?: string;
    path: string;
    headers?: Record<string, string | number>;
    body?: string | Buffer;
  },
): Promise<{ status: number; type: string | undefined; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        method: options.method ?? 'POST',
        path: options.path,
        headers: options.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            type: res.headers['content-type'],
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const JSON_HEADERS = { 'content-type': 'application/json' };

describe('KBS under hostile input', () => {
  let kbs: TestKbs;
  before(async () => {
    kbs = await startKbs({ maxBodyBytes: 128 * 1024 });
  });
  after(() => kbs.close());

  const stillServes = async (): Promise<void> => {
    assert.deepEqual(await kbs.client().getResource('default/disk/app'), DISK_KEY);
  };

  const cases: Array<[string, Parameters<typeof raw>[1], number, string]> = [
    [
      'truncated JSON',
      { path: '/kbs/v0/auth', headers: JSON_HEADERS, body: '{"version": "0.4.0", "tee": "sg' },
      400,
      'bad-request',
    ],
    [
      'not JSON at all',
      { path: '/kbs/v0/auth', headers: JSON_HEADERS, body: '\u0000\u0001garbage' },
      400,
      'bad-request',
    ],
    [
      'invalid UTF-8',
      { path: '/kbs/v0/auth', headers: JSON_HEADERS, body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) },
      400,
      'bad-request',
    ],
    ['a JSON array', { path: '/kbs/v0/auth', headers: JSON_HEADERS, body: '[1,2,3]' }, 400, 'bad-request'],
    [
      'wrong types',
      { path: '/kbs/v0/auth', headers: JSON_HEADERS, body: '{"version": 4, "tee": ["sgx"]}' },
      400,
      'bad-request',
    ],
    [
      'unknown TEE',
      { path: '/kbs/v0/auth', headers: JSON_HEADERS, body: '{"version": "0.4.0", "tee": "sample"}' },
      400,
      'bad-request',
    ],
    [
      'unknown version',
      { path: '/kbs/v0/auth', headers: JSON_HEADERS, body: '{"version": "9.0.0", "tee": "sgx"}' },
      400,
      'bad-request',
    ],
    [
      'unexpected members',
      { path: '/kbs/v0/auth', headers: JSON_HEADERS, body: '{"version": "0.4.0", "tee": "sgx", "x": 1}' },
      400,
      'bad-request',
    ],
    [
      'deep nesting on auth (its body is 4 KiB at most)',
      { path: '/kbs/v0/auth', headers: JSON_HEADERS, body: '['.repeat(60_000) + ']'.repeat(60_000) },
      413,
      'too-large',
    ],
    [
      'wrong content type',
      { path: '/kbs/v0/auth', headers: { 'content-type': 'text/plain' }, body: '{}' },
      415,
      'content-type',
    ],
    ['no content type', { path: '/kbs/v0/auth', body: '{}' }, 415, 'content-type'],
    [
      'huge declared body',
      { path: '/kbs/v0/auth', headers: { ...JSON_HEADERS, 'content-length': 10_000_000 }, body: '' },
      413,
      'too-large',
    ],
    [
      'huge chunked body',
      { path: '/kbs/v0/auth', headers: JSON_HEADERS, body: `{"a":"${'x'.repeat(1024 * 1024)}"}` },
      413,
      'too-large',
    ],
    ['GET on auth', { method: 'GET', path: '/kbs/v0/auth' }, 405, 'method'],
    [
      'POST on a resource',
      { path: '/kbs/v0/resource/default/disk/app', headers: JSON_HEADERS, body: '{}' },
      405,
      'method',
    ],
    ['unknown endpoint', { method: 'GET', path: '/kbs/v1/whatever' }, 404, 'not-found'],
    ['path traversal', { method: 'GET', path: '/kbs/v0/resource/../../etc/passwd' }, 404, 'not-found'],
    [
      'attest without a session',
      { path: '/kbs/v0/attest', headers: JSON_HEADERS, body: '{}' },
      401,
      'no-session',
    ],
  ];

  for (const [name, options, status, code] of cases) {
    it(`${name}: ${status} problem+json, and the server keeps serving`, async () => {
      if (
        options.headers?.['content-length'] === undefined &&
        options.body !== undefined &&
        name.includes('chunked')
      ) {
        options.headers = { ...options.headers, 'transfer-encoding': 'chunked' };
      }
      const r = await raw(kbs.url, options).catch((e: Error) => ({ status: -1, type: '', body: e.message }));
      // A server may close the connection on an oversized upload before the client has sent it all.
      if (r.status !== -1) {
        assert.equal(r.status, status, r.body);
        assert.equal(r.type, 'application/problem+json');
        assert.equal(JSON.parse(r.body).type, `urn:cloister:kbs:${code}`);
      } else assert.equal(status, 413);
      await stillServes();
    });
  }

  it('bad attestation bodies: bad base64, huge quote, private key material, truncated quote', async () => {
    const authed = async (): Promise<string> => {
      const r = await fetch(`${kbs.url}/kbs/v0/auth`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ version: '0.4.0', tee: 'sgx' }),
      });
      return (r.headers.get('set-cookie') ?? '').split(';')[0];
    };
    const pub = { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'A'.repeat(43) };
    const bodies: Array<[unknown, number]> = [
      [
        {
          'runtime-data': { nonce: 'n', 'tee-pubkey': pub },
          'tee-evidence': { primary_evidence: { quote: '%%%' } },
        },
        400,
      ],
      [
        { 'runtime-data': { nonce: 'n', 'tee-pubkey': { ...pub, d: 'A'.repeat(43) } }, 'tee-evidence': {} },
        400,
      ],
      [{ 'runtime-data': { nonce: 'n', 'tee-pubkey': { kty: 'oct', k: 'AAAA' } }, 'tee-evidence': {} }, 400],
      [{ 'runtime-data': { nonce: 'n', 'tee-pubkey': { ...pub, crv: 'P-521' } }, 'tee-evidence': {} }, 400],
      [{ 'runtime-data': 'nonce', 'tee-evidence': [] }, 400],
    ];
    for (const [body, status] of bodies) {
      const r = await raw(kbs.url, {
        path: '/kbs/v0/attest',
        headers: { ...JSON_HEADERS, cookie: await authed() },
        body: JSON.stringify(body),
      });
      assert.equal(r.status, status, r.body);
    }
    const nested = await raw(kbs.url, {
      path: '/kbs/v0/attest',
      headers: { ...JSON_HEADERS, cookie: await authed() },
      body: '['.repeat(60_000) + ']'.repeat(60_000),
    });
    assert.equal(nested.status, 400, nested.body);
    // A well-formed request whose nonce and quote are wrong: refused, not crashed.
    const cookie = await authed();
    const mismatched = await raw(kbs.url, {
      path: '/kbs/v0/attest',
      headers: { ...JSON_HEADERS, cookie },
      body: JSON.stringify({
        'runtime-data': { nonce: 'n', 'tee-pubkey': pub },
        'tee-evidence': { primary_evidence: { quote: 'AAAA' } },
      }),
    });
    assert.equal(mismatched.status, 401); // nonce mismatch comes first
    await stillServes();
  });

  it('a client that sends half a request and stalls does not block others', async () => {
    const { hostname, port } = new URL(kbs.url);
    const socket = connect(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      'POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"ver',
    );
    const garbage = connect(Number(port), hostname);
    garbage.on('error', () => undefined);
    garbage.write('\u0000\u0001\u0002 not http at all\r\n\r\n');
    await stillServes();
    socket.destroy();
    garbage.destroy();
  });

  it('serves concurrent clients while hostile requests arrive', async () => {
    const hostile = Array.from({ length: 20 }, (_, i) =>
      raw(kbs.url, { path: '/kbs/v0/auth', headers: JSON_HEADERS, body: i % 2 ? '{"version":' : '[]' }),
    );
    const clients = Array.from({ length: 20 }, () => kbs.client().getResource('default/disk/app'));
    const [secrets, refusals] = await Promise.all([Promise.all(clients), Promise.all(hostile)]);
    for (const s of secrets) assert.deepEqual(s, DISK_KEY);
    for (const r of refusals) assert.equal(r.status, 400);
  });
});
