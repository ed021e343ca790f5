// The data owner keeps the job key at a real `cloister kbs serve` (its admin API) and never holds a
// key file: `data seal --kbs URL --key jobs/wc`, `job run --kbs --resource jobs/wc`, `data open --kbs`.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { parseSetBody } from '../../src/kbs/admin.ts';
import { ADMIN_READ_PREFIX, bodyDigest } from '../../src/interface/kbs/admin-token.ts';
import { KbsProblem } from '../../src/kbs/problem.ts';
import { SimPlatform } from '../../src/tee/sim/platform.ts';
import { cliPath, runCli } from '../helpers/cli.ts';
import { examples, freePort, scratch, writeCorpus } from './helpers.ts';

const s = scratch();
const env = { CLOISTER_SIM_PLATFORM: s.platform };
let server: ChildProcess | undefined;
let url = '';
let serverLog = '';

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
}

before(async () => {
  await SimPlatform.open({ path: s.platform }); // --trust-sim-root reads the platform's root
  // The administrator's key pair, made as docs/dataflow.md says.
  openssl(['genpkey', '-algorithm', 'ed25519', '-out', s.path('admin.pem')]);
  openssl(['pkey', '-in', s.path('admin.pem'), '-pubout', '-out', s.path('admin.pub')]);
  openssl(['genpkey', '-algorithm', 'ed25519', '-out', s.path('intruder.pem')]);
  writeFileSync(s.path('server-policy.json'), '{}');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = spawn(
    process.execPath,
    [
      cliPath,
      'kbs',
      'serve',
      '--db',
      s.path('kbs.sqlite'),
      '--policy',
      s.path('server-policy.json'),
      '--trust-sim-root',
      '--admin-public-key',
      s.path('admin.pub'),
      '--port',
      String(port),
    ],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kbs serve did not start: ${serverLog}`)), 30_000);
    server!.stderr!.on('data', (d: Buffer) => {
      serverLog += d.toString();
      if (serverLog.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    server!.once('exit', () => reject(new Error(`kbs serve exited: ${serverLog}`)));
  });
});

after(async () => {
  if (server && server.exitCode === null)
    await new Promise((r) => (server!.once('exit', r), server!.kill('SIGTERM')));
  s.cleanup();
});

/** `job run` of the example word count over a sealed input, with the job key from the broker. */
const wordCountWithBrokerKey = (input: string, out: string) =>
  runCli(
    [
      'job',
      'run',
      `${examples}wordcount.ts`,
      '--master',
      'local[1]',
      '--kbs',
      url,
      '--resource',
      'jobs/wc',
      '--',
      s.path(input),
      s.path(out),
    ],
    { env },
  );

describe('the job key at the key broker (data owner: no key file)', () => {
  it('seal --kbs --key jobs/wc, run with --resource jobs/wc, open --kbs: the counts are right', async () => {
    writeCorpus(s.path('corpus'), { 'a.txt': 'To be, or not to be\n', 'b.txt': 'BE quick\n' });
    const measured = await runCli([
      'job',
      'measure',
      `${examples}wordcount.ts`,
      '--kbs',
      url,
      '--resource',
      'jobs/wc',
    ]);
    assert.equal(measured.code, 0, measured.stderr);
    const mrenclave = measured.stdout.trim();
    writeFileSync(s.path('wc-policy.json'), JSON.stringify({ mrenclave: [mrenclave] }));
    const seal = await runCli(
      [
        'data',
        'seal',
        s.path('corpus'),
        '-o',
        s.path('corpus.sealed'),
        '--kbs',
        url,
        '--key',
        'jobs/wc',
        '--policy',
        s.path('wc-policy.json'),
      ],
      { env: { CLOISTER_KBS_ADMIN_KEY: s.path('admin.pem') } },
    );
    assert.equal(seal.code, 0, seal.stderr);
    assert.match(
      seal.stdout,
      /2 sealed files .*a new job key stored at default\/jobs\/wc, with its release policy/,
    );
    assert.match(serverLog, /stored default\/jobs\/wc \(32 bytes, with its own policy\) by the admin/);

    const run = await wordCountWithBrokerKey('corpus.sealed', 'out');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`MRENCLAVE ${mrenclave}`));
    assert.match(serverLog, new RegExp(`release default/jobs/wc to session \\S+ mrenclave=${mrenclave}`));

    const open = await runCli(
      [
        'data',
        'open',
        s.path('out'),
        '--verify-manifest',
        '--inputs',
        s.path('corpus.sealed'),
        '--kbs',
        url,
        '--key',
        'jobs/wc',
        '--admin-key',
        s.path('admin.pem'),
      ],
      {},
    );
    assert.equal(open.code, 0, open.stderr);
    assert.match(open.stderr, /manifest verified: .*every file of the dataset read/);
    const counts = Object.fromEntries(
      open.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as [string, number]),
    );
    assert.deepEqual(counts, { to: 2, be: 3, or: 1, not: 1, quick: 1 });

    // More data later, sealed under the key the broker already holds (the owner gets it back).
    writeCorpus(s.path('corpus2'), { 'c.txt': 'not quick\n' });
    const again = await runCli(
      [
        'data',
        'seal',
        s.path('corpus2'),
        '-o',
        s.path('corpus2.sealed'),
        '--kbs',
        url,
        '--key',
        'default/jobs/wc',
      ],
      { env: { CLOISTER_KBS_ADMIN_KEY: s.path('admin.pem') } },
    );
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /the job key it holds at default\/jobs\/wc/);
    const run2 = await wordCountWithBrokerKey('corpus2.sealed', 'out2');
    assert.equal(run2.code, 0, run2.stderr);
  });

  it('a key not signed by the administrator is refused and nothing is sealed or stored', async () => {
    writeCorpus(s.path('corpus3'), { 'a.txt': 'secret words\n' });
    const intruder = await runCli(
      [
        'data',
        'seal',
        s.path('corpus3'),
        '-o',
        s.path('intruder.sealed'),
        '--kbs',
        url,
        '--key',
        'jobs/other',
        '--admin-key',
        s.path('intruder.pem'),
      ],
      {},
    );
    assert.equal(intruder.code, 1);
    assert.match(intruder.stderr, /key broker answered 401 admin-refused/);
    assert.equal(existsSync(s.path('intruder.sealed')), false);
    // Nor can the intruder replace the owner's key: the owner still reads back the one she stored.
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(generateKeyPairSync('ed25519').privateKey);
    const replace = await fetch(`${url}/kbs/v0/resource/default/jobs/wc`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(32),
    });
    assert.equal(replace.status, 401);
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
      `{"iat":${Math.floor(Date.now() / 1000)},"exp":${Math.floor(Date.now() / 1000) + 60}}`,
    ).toString('base64url')}.`;
    const none = await fetch(`${url}/kbs/v0/admin/resource/default/jobs/wc`, {
      headers: { authorization: `Bearer ${unsigned}` },
    });
    assert.equal(none.status, 401);
    // The administrator's own key and a token right in every claim but its time: expired, or issued
    // longer ago than a token may live (2 minutes), whatever its `exp` says.
    const admin = createPrivateKey(readFileSync(s.path('admin.pem')));
    const now = Math.floor(Date.now() / 1000);
    for (const [iat, exp] of [
      [now - 600, now - 300],
      [now - 300, now + 300],
    ]) {
      const stale = await new SignJWT({
        'body-sha256': bodyDigest(new Uint8Array(0)),
        resource: 'default/jobs/wc',
        method: 'GET',
      })
        .setProtectedHeader({ alg: 'EdDSA' })
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(admin);
      const refused = await fetch(`${url}${ADMIN_READ_PREFIX}default/jobs/wc`, {
        headers: { authorization: `Bearer ${stale}` },
      });
      assert.equal(refused.status, 401);
      assert.match(((await refused.json()) as { detail: string }).detail, /(exp|iat)\\?" claim/);
    }
    const anonymous = await fetch(`${url}/kbs/v0/admin/resource/default/jobs/wc`);
    assert.equal(anonymous.status, 401);
    // An owner who brings a key file that differs from the broker's is not allowed to replace it.
    writeFileSync(s.path('other.key'), `${'ab'.repeat(32)}\n`);
    const clash = await runCli(
      [
        'data',
        'seal',
        s.path('corpus3'),
        '-o',
        s.path('clash.sealed'),
        '--kbs',
        url,
        '--key',
        'jobs/wc',
        '--key-file',
        s.path('other.key'),
        '--admin-key',
        s.path('admin.pem'),
      ],
      {},
    );
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /already holds another key at default\/jobs\/wc; refusing to replace it/);
    assert.equal(existsSync(s.path('clash.sealed')), false);
    const runAfter = await runCli(
      [
        'data',
        'open',
        s.path('out'),
        '--verify-manifest',
        '--kbs',
        url,
        '--key',
        'jobs/wc',
        '--admin-key',
        s.path('admin.pem'),
      ],
      {},
    );
    assert.equal(runAfter.code, 0, runAfter.stderr);
    assert.ok(readdirSync(s.path('out')).length > 1);
  });

  it('usage: --kbs without --key or an admin key, a bad resource path', async () => {
    const half = await runCli(['data', 'seal', s.path('corpus'), '-o', s.path('x'), '--kbs', url]);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /--kbs URL and --key PATH go together/);
    const noAdmin = await runCli(
      ['data', 'seal', s.path('corpus'), '-o', s.path('x'), '--kbs', url, '--key', 'jobs/wc'],
      { env: { CLOISTER_KBS_ADMIN_KEY: '' } },
    );
    assert.equal(noAdmin.code, 2, noAdmin.stderr);
    assert.match(noAdmin.stderr, /--admin-key FILE/);
    const badPath = await runCli([
      'data',
      'seal',
      s.path('corpus'),
      '-o',
      s.path('x'),
      '--kbs',
      url,
      '--key',
      'a/b/c/d',
      '--admin-key',
      s.path('admin.pem'),
    ]);
    assert.equal(badPath.code, 2);
    assert.match(badPath.stderr, /a resource is repository\/type\/tag or type\/tag/);
    const pubAsPrivate = await runCli([
      'data',
      'open',
      s.path('out'),
      '--kbs',
      url,
      '--key',
      'jobs/wc',
      '--admin-key',
      s.path('admin.pub'),
    ]);
    assert.equal(pubAsPrivate.code, 2);
    assert.match(pubAsPrivate.stderr, /not a private key/);
  });
});

describe('the set-resource body (hostile input)', () => {
  const problem = (f: () => unknown, code: string) =>
    assert.throws(f, (e: unknown) => e instanceof KbsProblem && e.code === code);
  it('takes raw bytes or {secret, policy}, and refuses everything else clearly', () => {
    assert.deepEqual(parseSetBody('application/octet-stream', Buffer.from('k')).secret, Buffer.from('k'));
    const json = parseSetBody(
      'application/json',
      Buffer.from(
        JSON.stringify({
          secret: Buffer.from('key').toString('base64'),
          policy: { mrenclave: ['aa'.repeat(32)] },
        }),
      ),
    );
    assert.equal(json.secret.toString(), 'key');
    assert.deepEqual(json.policy?.mrenclave, ['aa'.repeat(32)]);
    problem(() => parseSetBody('text/plain', Buffer.from('k')), 'content-type');
    problem(() => parseSetBody('application/octet-stream', Buffer.alloc(0)), 'bad-request');
    problem(() => parseSetBody('application/octet-stream', Buffer.alloc(64 * 1024 + 1)), 'too-large');
    problem(() => parseSetBody('application/json', Buffer.from('{"secret":"a2V5"')), 'bad-request');
    problem(() => parseSetBody('application/json', Buffer.from('{"secret":"a2V5","x":1}')), 'bad-request');
    problem(() => parseSetBody('application/json', Buffer.from('{"secret":"a2V"}')), 'bad-request');
    problem(
      () => parseSetBody('application/json', Buffer.from('{"secret":"a2V5","policy":{"mrenclave":7}}')),
      'bad-request',
    );
    problem(() => parseSetBody('application/json', Buffer.from([0x7b, 0xff, 0x7d])), 'bad-request');
    problem(() => parseSetBody('application/json', Buffer.from('[1]')), 'bad-request');
  });
});
