// Resources added or rotated while the broker runs: the admin endpoint refuses every token that is
// not the admin key's, for this path and this body, fresh and unused; `kbs put` finds a running
// server by itself. And a server that failed to start (port taken) or was killed leaves no lock
// that blocks the next start.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AdminVerifier, adminToken } from '../../src/kbs/admin.ts';
import { KbsStore } from '../../src/kbs/store.ts';
import { SimPlatform } from '../../src/tee/sim/platform.ts';
import { cliPath, tempDir } from '../helpers/cli.ts';
import { BrokerExited, listeningUrl } from '../helpers/listening.ts';
import { DISK_KEY } from './helpers/kbs.ts';
import { startSimKbs, type SimKbs } from './helpers/sim-kbs.ts';

const admin = generateKeyPairSync('ed25519').privateKey;
const stranger = generateKeyPairSync('ed25519').privateKey;
const PATH = 'default/disk/app';
const NEW_KEY = new TextEncoder().encode('rotated-disk-key:fedcba9876543210');

function post(
  kbs: SimKbs,
  path: string,
  body: Uint8Array,
  token?: string,
  type = 'application/octet-stream',
) {
  return fetch(`${kbs.url}/kbs/v0/resource/${path}`, {
    method: 'POST',
    headers: { 'content-type': type, ...(token !== undefined && { authorization: `Bearer ${token}` }) },
    body: new Uint8Array(body),
  });
}

describe('the admin endpoint', () => {
  let kbs: SimKbs;
  before(async () => {
    kbs = await startSimKbs({ admin: new AdminVerifier(admin) });
  });
  after(() => kbs.close());

  it('refuses anything but a fresh, unused token of the admin key for this path and body', async () => {
    const refusals: [string, Promise<Response>][] = [
      ['no token', post(kbs, PATH, NEW_KEY)],
      ['another key', post(kbs, PATH, NEW_KEY, await adminToken(stranger, PATH, NEW_KEY))],
      ['another body', post(kbs, PATH, NEW_KEY, await adminToken(admin, PATH, DISK_KEY))],
      ['another path', post(kbs, PATH, NEW_KEY, await adminToken(admin, 'default/disk/other', NEW_KEY))],
      ['expired', post(kbs, PATH, NEW_KEY, await adminToken(admin, PATH, NEW_KEY, Date.now() - 600_000))],
      [
        'from the future',
        post(kbs, PATH, NEW_KEY, await adminToken(admin, PATH, NEW_KEY, Date.now() + 600_000)),
      ],
      ['garbage', post(kbs, PATH, NEW_KEY, 'a.b.c')],
    ];
    for (const [what, reply] of refusals) {
      const r = await reply;
      assert.equal(r.status, 401, what);
      assert.match(((await r.json()) as { type: string }).type, /admin-refused/, what);
    }
    assert.deepEqual(kbs.store.get(PATH)?.secret, DISK_KEY, 'a refused request changed the resource');
  });

  it('stores a resource at once, and the next release hands it out; the same token again is refused', async () => {
    const before = await kbs.client().getResource(PATH);
    assert.deepEqual(before, DISK_KEY);
    const token = await adminToken(admin, PATH, NEW_KEY);
    const stored = await post(kbs, PATH, NEW_KEY, token);
    assert.equal(stored.status, 200, await stored.clone().text());
    assert.deepEqual(await stored.json(), { stored: PATH, bytes: NEW_KEY.length });
    assert.deepEqual(await kbs.client().getResource(PATH), NEW_KEY);
    const stores = kbs.store.auditLog().filter((r) => r.event === 'store');
    assert.deepEqual(
      stores.map((r) => [r.resource, r.reason]),
      [[PATH, `${NEW_KEY.length} bytes, by the admin`]],
    );
    assert.match(stores[0].client ?? '', /127\.0\.0\.1/);

    const replay = await post(kbs, PATH, NEW_KEY, token);
    assert.equal(replay.status, 401);
    assert.match(((await replay.json()) as { detail: string }).detail, /already used/);
  });

  it('takes a JSON body with a policy of its own, and refuses a malformed one', async () => {
    const body = new TextEncoder().encode(
      JSON.stringify({
        secret: Buffer.from('x').toString('base64'),
        policy: { mrenclave: ['00'.repeat(32)] },
      }),
    );
    const r = await post(
      kbs,
      'default/disk/strict',
      body,
      await adminToken(admin, 'default/disk/strict', body),
      'application/json',
    );
    assert.equal(r.status, 200);
    assert.ok(kbs.store.get('default/disk/strict')?.policy);
    await assert.rejects(kbs.client().getResource('default/disk/strict'), /403 policy-refused/);

    const bad = new TextEncoder().encode('{"secret": 5}');
    const refused = await post(kbs, PATH, bad, await adminToken(admin, PATH, bad), 'application/json');
    assert.equal(refused.status, 400);
    const empty = new Uint8Array(0);
    assert.equal((await post(kbs, PATH, empty, await adminToken(admin, PATH, empty))).status, 400);
  });
});

describe('kbs serve and kbs put, as a user runs them', () => {
  const dir = tempDir();
  const file = (name: string): string => join(dir, name);
  const env = { ...process.env, CLOISTER_SIM_PLATFORM: file('sim-platform.json') };
  const children: ChildProcess[] = [];
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [cliPath, 'kbs', ...args], { encoding: 'utf8', timeout: 60_000, env });

  before(async () => {
    await SimPlatform.open({ path: file('sim-platform.json') });
    writeFileSync(file('policy.json'), JSON.stringify({ mrenclave: ['11'.repeat(32)] }));
    writeFileSync(file('old.key'), 'old secret');
    writeFileSync(file('new.key'), 'new secret');
  });
  after(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  function serve(port: number): Promise<{ child: ChildProcess; url: string }> {
    const child = spawn(
      process.execPath,
      [
        cliPath,
        'kbs',
        'serve',
        '--db',
        file('kbs.sqlite'),
        '--policy',
        file('policy.json'),
        '--trust-sim-root',
        '--port',
        String(port),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env },
    );
    children.push(child);
    return listeningUrl(child, 30_000).then((url) => ({ child, url }));
  }

  const stop = (child: ChildProcess): Promise<unknown> => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    return exited;
  };

  it('a server that could not listen (port taken) leaves no lock: the next one starts', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const failed = await serve(port).then(
        () => assert.fail('served on a taken port'),
        (error: BrokerExited) => error,
      );
      assert.equal(failed.code, 2);
      assert.match(failed.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is in use by another program`));
    } finally {
      taken.close();
    }
    assert.ok(!existsSync(file('kbs.sqlite.lock')), 'the failed start left its lock');
    const { child } = await serve(0);
    await stop(child);
  });

  it('a server killed with SIGKILL leaves a lock the next start takes over', async () => {
    const { child } = await serve(0);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    assert.ok(existsSync(file('kbs.sqlite.lock')));
    const next = await serve(0);
    await stop(next.child);
  });

  it('kbs put while the server runs stores at once through its admin endpoint; afterwards directly', async () => {
    const { child } = await serve(0);
    let logs = '';
    child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
    const key = cli('public-key', '--db', file('kbs.sqlite'));
    assert.equal(key.status, 0, key.stderr);
    assert.match(key.stdout, /^\{"kty":"EC","crv":"P-256","x":"[\w-]{43}","y":"[\w-]{43}"\}\n$/);
    const live = cli('put', PATH, '--file', file('old.key'), '--db', file('kbs.sqlite'));
    assert.equal(live.status, 0, live.stderr);
    assert.match(
      live.stdout,
      /stored default\/disk\/app \(10 bytes\) in the running server at http:\/\/127\.0\.0\.1:\d+/,
    );
    const rotated = cli('put', PATH, '--file', file('new.key'), '--db', file('kbs.sqlite'));
    assert.equal(rotated.status, 0, rotated.stderr);
    await stop(child);
    assert.match(logs, /stored default\/disk\/app \(10 bytes\) by the admin/);
    // The server wrote it back: the database holds the rotated secret.
    const store = await KbsStore.open({ file: file('kbs.sqlite') });
    try {
      assert.equal(Buffer.from(store.get(PATH)?.secret ?? []).toString(), 'new secret');
    } finally {
      store.close();
    }
    const direct = cli('put', PATH, '--file', file('old.key'), '--db', file('kbs.sqlite'));
    assert.equal(direct.status, 0, direct.stderr);
    assert.equal(direct.stdout, 'stored default/disk/app (10 bytes)\n');
    // The key the server showed is the store's own.
    assert.equal(cli('public-key', '--db', file('kbs.sqlite')).stdout, key.stdout);
  });

  it('kbs put with another admin key is refused by the running server', async () => {
    const { child } = await serve(0);
    try {
      writeFileSync(
        file('other.admin-key'),
        generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }),
        { mode: 0o600 },
      );
      const r = cli(
        'put',
        PATH,
        '--file',
        file('new.key'),
        '--db',
        file('kbs.sqlite'),
        '--admin-key',
        file('other.admin-key'),
      );
      assert.equal(r.status, 1);
      assert.match(r.stderr, /refused: HTTP 401: admin token refused: signature verification failed/);
    } finally {
      await stop(child);
    }
  });
});
