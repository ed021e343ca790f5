// The key broker under hostile clients, on a real server on loopback with real sim quotes: a flood of
// unauthenticated sessions, forged log lines, oversized member names, a TEE type that lies, and
// clients that trickle their requests.
import { strict as assert } from 'node:assert';
import { statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DISK_KEY } from './helpers/kbs.ts';
import { startSimKbs } from './helpers/sim-kbs.ts';
import type { SimKbs } from './helpers/sim-kbs.ts';

const AUTH = JSON.stringify({ version: '0.4.0', tee: 'sgx', 'extra-params': {} });
/** Raw control characters: none may reach a log line or an audit row. */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** POSTs `body` to `path` from the agent's address; resolves with status, cookie and body. */
function post(
  url: string,
  path: string,
  body: string,
  options: { agent?: Agent; cookie?: string; localAddress?: string } = {},
): Promise<{ status: number; cookie: string; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        method: 'POST',
        path,
        agent: options.agent,
        localAddress: options.agent ? undefined : options.localAddress,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(options.cookie ? { cookie: options.cookie } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            cookie: String(res.headers['set-cookie'] ?? '').split(';')[0],
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('KBS under hostile clients', () => {
  let kbs: SimKbs;
  before(async () => {
    kbs = await startSimKbs({
      file: (dir) => join(dir, 'kbs.sqlite'),
      headersTimeoutMs: 1_000,
      requestTimeoutMs: 2_000,
    });
  });
  after(() => kbs.close());

  it('a flood of 10,000 unauthenticated sessions does not lock a legitimate client out', async (t) => {
    const FLOOD = 10_000;
    const started = Date.now();
    const deadline = Date.now() + 300_000;
    // The flood comes from 127.0.0.2 over 8 kept-alive connections; the enclave is on 127.0.0.1.
    const agent = new Agent({ keepAlive: true, maxSockets: 8, localAddress: '127.0.0.2' });
    let sent = 0;
    let answered = 0;
    const statuses = new Map<number, number>();
    let largestClient = 0;
    let mostPending = 0;
    const flooder = async (): Promise<void> => {
      while (sent < FLOOD && Date.now() < deadline) {
        sent++;
        const r = await post(kbs.url, '/kbs/v0/auth', AUTH, { agent });
        answered++;
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        const counts = kbs.broker.sessionCounts();
        largestClient = Math.max(largestClient, counts.largestClient);
        mostPending = Math.max(mostPending, counts.pending);
      }
    };
    const released: Uint8Array[] = [];
    const legitimate = async (): Promise<void> => {
      while (answered < FLOOD && Date.now() < deadline) {
        released.push(await kbs.client().getResource('default/disk/app'));
      }
    };
    try {
      await Promise.all([...Array.from({ length: 8 }, flooder), legitimate()]);
      // And right after the flood, with every session it made still fresh.
      released.push(await kbs.client().getResource('default/disk/app'));
    } finally {
      agent.destroy();
    }
    t.diagnostic(
      `${answered} flood requests in ${Date.now() - started} ms; ${released.length} legitimate RCAR flows; ` +
        `at most ${mostPending} pending sessions, ${largestClient} from one address`,
    );
    assert.equal(answered, FLOOD, 'the flood ran to its count');
    assert.deepEqual([...statuses], [[200, FLOOD]], 'the newest session is never refused');
    assert.ok(released.length >= 2, `the legitimate client completed ${released.length} flows`);
    for (const secret of released) assert.deepEqual(secret, DISK_KEY);
    const limits = kbs.broker.limits;
    assert.ok(largestClient <= limits.maxPendingPerClient, `one address held ${largestClient} sessions`);
    assert.ok(mostPending <= limits.maxPendingSessions, `${mostPending} pending sessions held`);
    // The flooding address holds at most its share; the enclave's own sessions are attested.
    assert.ok(kbs.broker.sessionCounts().pending <= limits.maxPendingPerClient + 1);
  });

  it('evicts the oldest pending session, never refuses the newest, when all addresses together are over the bound', async () => {
    const small = await startSimKbs({ maxPendingSessions: 40, maxPendingPerClient: 16 });
    try {
      const cookies: string[] = [];
      for (let i = 0; i < 120; i++) {
        const r = await post(small.url, '/kbs/v0/auth', AUTH, { localAddress: `127.0.0.${2 + (i % 6)}` });
        assert.equal(r.status, 200, r.body);
        cookies.push(r.cookie);
        assert.ok(small.broker.sessionCounts().pending <= 40);
      }
      const attest = (cookie: string) => post(small.url, '/kbs/v0/attest', '{}', { cookie });
      // The oldest was evicted; the newest is still held (it answers the body, not the session).
      assert.match((await attest(cookies[0])).body, /no-session/);
      assert.match((await attest(cookies[119])).body, /bad-request/);
      assert.deepEqual(await small.client().getResource('default/disk/app'), DISK_KEY);
    } finally {
      await small.close();
    }
  });

  it('quotes and escapes untrusted strings: no forged log line, no raw control character in log or audit', async () => {
    const forged = '\n[fake] resource released\r\u001b[2J\u001b[31mred\u0007\u2028\u009b';
    const bodies = [
      JSON.stringify({ version: '0.4.0', tee: 'sgx', [forged]: 1 }),
      JSON.stringify({ version: '0.4.0', tee: `sgx${forged}` }),
      JSON.stringify({ version: `0.4.0${forged}`, tee: 'sgx' }),
      `{"version": "0.4.0", ${forged}`,
    ];
    const logsBefore = kbs.logs.length;
    const auditBefore = kbs.store.auditLog().length;
    for (const body of bodies) {
      const r = await post(kbs.url, '/kbs/v0/auth', body);
      assert.equal(r.status, 400, r.body);
      // eslint-disable-next-line no-control-regex -- control characters are what it looks for
      assert.doesNotMatch(JSON.parse(r.body).detail as string, /\u001b/);
    }
    const cookie = (await post(kbs.url, '/kbs/v0/auth', AUTH)).cookie;
    await post(kbs.url, '/kbs/v0/attest', JSON.stringify({ [forged]: 1 }), { cookie });
    const lines = kbs.logs.slice(logsBefore);
    const rows = kbs.store.auditLog().slice(auditBefore);
    assert.equal(lines.length, bodies.length + 1);
    assert.equal(rows.length, bodies.length + 1);
    for (const line of lines) {
      assert.doesNotMatch(line, CONTROL, `raw control character in ${JSON.stringify(line)}`);
      // One record per line: the reason is one quoted string that ends the line.
      assert.match(line, /^refuse - session=\S+ client=127\.0\.0\.1: reason="(?:[^"\\]|\\.)*"$/);
    }
    // The hostile text is there, visibly escaped.
    assert.ok(lines.some((l) => l.includes('\\n[fake] resource released\\r\\u001b[2J')));
    for (const row of rows) assert.doesNotMatch(row.reason, CONTROL);
  });

  it('bounds what one request can add to the log and the audit store (200 requests with 200 KB member names)', async () => {
    const db = join(kbs.dir, 'kbs.sqlite');
    kbs.store.flush();
    const dbBefore = statSync(db).size;
    const logsBefore = kbs.logs.length;
    const name = 'm'.repeat(200 * 1024);
    const cookie = (await post(kbs.url, '/kbs/v0/auth', AUTH)).cookie;
    const started = Date.now();
    for (let i = 0; i < 200; i++) {
      // Half on auth (small bodies only), half on attest (room for a quote, not for such a name).
      const r =
        i % 2 === 0
          ? await post(kbs.url, '/kbs/v0/auth', JSON.stringify({ [name]: i })).catch(() => ({ status: 413 }))
          : await post(kbs.url, '/kbs/v0/attest', JSON.stringify({ [name.slice(0, 60_000)]: i }), { cookie });
      assert.ok(r.status === 413 || r.status === 400 || r.status === 401, String(r.status));
    }
    kbs.store.flush();
    const logBytes = kbs.logs.slice(logsBefore).reduce((n, l) => n + Buffer.byteLength(l), 0);
    const dbGrowth = statSync(db).size - dbBefore;
    assert.ok(logBytes < 200 * 1024, `the log grew by ${logBytes} bytes`);
    // And one client gets at most its budget of lines (20 per 10 s window, plus one line saying how
    // many were held back) however much it sends; a loaded machine may take more than one window.
    const windows = Math.ceil((Date.now() - started) / 10_000) + 1;
    const budget = windows * 21;
    assert.ok(budget < 200, `the run took ${windows} windows: too slow to show the bound`);
    assert.ok(
      kbs.logs.length - logsBefore <= budget,
      `${kbs.logs.length - logsBefore} lines (budget ${budget})`,
    );
    assert.ok(dbGrowth < 400 * 1024, `the audit store grew by ${dbGrowth} bytes`);
    for (const row of kbs.store.auditLog(200)) assert.ok(row.reason.length <= 1024, `${row.reason.length}`);
  });

  it('enforces the TEE type declared at auth against the evidence', async () => {
    const auditBefore = kbs.store.auditLog().length;
    await assert.rejects(
      kbs.client({ tee: 'tdx' }).getResource('default/disk/app'),
      /401 tee-mismatch: .*declared tdx.*evidence is an sgx quote/,
    );
    const rows = kbs.store.auditLog().slice(auditBefore);
    assert.ok(rows.some((r) => r.event === 'refuse' && /tee-mismatch/.test(r.reason)));
    assert.ok(!rows.some((r) => r.event === 'release'));
    assert.deepEqual(await kbs.client({ tee: 'sgx' }).getResource('default/disk/app'), DISK_KEY);
  });

  /**
   * Trickles `pieces` one per 200 ms on a raw connection; resolves with how many were written
   * before the server closed it and what it answered (bounded by the number of pieces).
   */
  async function trickle(
    head: string,
    piece: string,
    count: number,
  ): Promise<{ written: number; reply: string }> {
    const { hostname, port } = new URL(kbs.url);
    const socket: Socket = connect(Number(port), hostname);
    let reply = '';
    let closed = false;
    socket.on('data', (d: Buffer) => (reply += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(head);
    let written = 0;
    try {
      while (!closed && written < count) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        if (!closed) socket.write(piece);
        written++;
      }
    } finally {
      socket.destroy();
    }
    return { written: closed ? written : count + 1, reply };
  }

  it('closes a connection whose headers are trickled (slowloris)', async () => {
    const r = await trickle('POST /kbs/v0/auth HTTP/1.1\r\nHost: kbs\r\n', 'X-Slow: 1\r\n', 60);
    assert.ok(r.written <= 60, 'the server kept a trickling connection open past its header timeout');
    assert.deepEqual(await kbs.client().getResource('default/disk/app'), DISK_KEY);
  });

  it('closes a connection whose body is trickled, with 408', async () => {
    const head =
      'POST /kbs/v0/auth HTTP/1.1\r\nHost: kbs\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{';
    const r = await trickle(head, ' ', 60);
    assert.ok(r.written <= 60, 'the server kept a trickling connection open past its request timeout');
    assert.match(r.reply, /^HTTP\/1\.1 408 /);
    assert.deepEqual(await kbs.client().getResource('default/disk/app'), DISK_KEY);
  });
});
