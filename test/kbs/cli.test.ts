import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SgxAttributeFlags } from '../../src/attestation/report-body.ts';
import { KbsClient } from '../../src/enclave/kbs/client.ts';
import type { Fetch } from '../../src/enclave/kbs/client.ts';
import { SimPlatform } from '../../src/tee/sim/platform.ts';
import type { EnclaveIdentity } from '../../src/tee/sim/platform.ts';
import { SimQuotingEnclave, simCollateral } from '../../src/tee/sim/quoting.ts';
import { DISK_KEY } from './helpers/kbs.ts';
import { selfSignedTls } from './helpers/tls.ts';

const dir = mkdtempSync(join(tmpdir(), 'cloister-kbs-cli-'));
const file = (name: string): string => join(dir, name);
const CLI = ['--import', 'tsx', 'src/cli/main.ts', 'kbs'];
// Every process of this test uses one sim platform of its own.
const env = { ...process.env, CLOISTER_SIM_PLATFORM: file('sim-platform.json') };

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', timeout: 60_000, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `kbs serve`; resolves with its URL once it logs that it listens. */
async function serve(args: string[]): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [...CLI, 'serve', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 30_000);
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  return exited;
}

/** A `fetch` over node:https trusting one CA: the client takes its fetch as a parameter. */
function httpsFetch(ca: string): Fetch {
  return (url, init) =>
    new Promise((resolve, reject) => {
      const headers = Object.fromEntries(new Headers(init.headers).entries());
      const req = request(url, { method: init.method, headers, ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, String(v));
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers: h }));
        });
      });
      req.on('error', reject);
      req.end(init.body as string | undefined);
    });
}

const APP: EnclaveIdentity = {
  mrenclave: new Uint8Array(32).fill(0x11),
  mrsigner: new Uint8Array(32).fill(0x22),
  isvprodid: 1,
  isvsvn: 3,
  attributes: { flags: SgxAttributeFlags.INIT | SgxAttributeFlags.MODE64BIT, xfrm: 3n },
  miscselect: 0,
};

describe('cloister kbs', () => {
  let platform: SimPlatform;
  /** The enclave side: a REPORT for the sim QE, quoted, as the runtime will do it. */
  const simClient = (
    url: string,
    identity: Partial<EnclaveIdentity> = {},
    fetcher: Fetch = (u, i) => fetch(u, i),
  ) => {
    const qe = new SimQuotingEnclave(platform);
    return new KbsClient({
      url,
      fetch: fetcher,
      evidence: (reportData) =>
        qe.quote(platform.ereport({ ...APP, ...identity }, qe.targetInfo(), reportData)),
    });
  };
  before(async () => {
    platform = await SimPlatform.open({ path: env.CLOISTER_SIM_PLATFORM });
    writeFileSync(file('sim-collateral.json'), JSON.stringify(await simCollateral(platform)));
    const policy = { mrenclave: ['11'.repeat(32)] };
    writeFileSync(file('policy.json'), JSON.stringify(policy));
    writeFileSync(file('strict.json'), JSON.stringify({ ...policy, minIsvsvn: 7 }));
    writeFileSync(file('disk.key'), DISK_KEY);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const common = (): string[] => ['--db', file('kbs.sqlite'), '--policy', file('policy.json'), '--port', '0'];

  it('put stores a resource; bad paths and policies are usage errors', () => {
    const ok = cli('put', 'default/disk/app', '--file', file('disk.key'), '--db', file('kbs.sqlite'));
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /stored default\/disk\/app \(41 bytes\)/);
    const strict = cli(
      'put',
      'default/disk/strict',
      '--file',
      file('disk.key'),
      '--db',
      file('kbs.sqlite'),
      '--policy',
      file('strict.json'),
    );
    assert.equal(strict.status, 0, strict.stderr);
    assert.equal(
      cli('put', '../etc/passwd', '--file', file('disk.key'), '--db', file('kbs.sqlite')).status,
      2,
    );
    writeFileSync(file('typo.json'), '{"mrenclve": "00"}');
    const typo = cli(
      'put',
      'a/b/c',
      '--file',
      file('disk.key'),
      '--db',
      file('kbs.sqlite'),
      '--policy',
      file('typo.json'),
    );
    assert.equal(typo.status, 2);
    assert.match(typo.stderr, /unknown key "mrenclve"/);
    const audit = cli('audit', '--db', file('kbs.sqlite'));
    assert.match(audit.stdout, /store +default\/disk\/app\b.*: 41 bytes, by kbs put\n/);
    assert.match(
      audit.stdout,
      /store +default\/disk\/strict\b.*: 41 bytes, with its own policy, by kbs put\n/,
    );
    assert.doesNotMatch(audit.stdout, /etc|a\/b\/c/, 'a refused put left a row');
  });

  it('serve never accepts sim evidence without --trust-sim-root', () => {
    const none = cli('serve', ...common());
    assert.equal(none.status, 2);
    assert.match(none.stderr, /--collateral is required/);
    // Sim collateral checked against Intel's root: refused at start-up, before any enclave asks.
    const sim = cli('serve', ...common(), '--collateral', file('sim-collateral.json'));
    assert.equal(sim.status, 1);
    assert.match(sim.stderr, /root|issuer/i);
  });

  it('serve releases to a matching enclave, refuses others with a logged reason, and audit shows both', async () => {
    const { child, url, stderr } = await serve([...common(), '--trust-sim-root']);
    try {
      assert.deepEqual(await simClient(url).getResource('default/disk/app'), DISK_KEY);
      const other = simClient(url, { mrenclave: new Uint8Array(32).fill(0x77) });
      await assert.rejects(other.getResource('default/disk/app'), /policy-refused/);
      await assert.rejects(
        simClient(url).getResource('default/disk/strict'),
        /403 policy-refused.*ISVSVN 3 is below the minimum 7/,
      );
      // The database is locked while served: a put goes to the server's admin endpoint.
      const live = cli('put', 'default/disk/x', '--file', file('disk.key'), '--db', file('kbs.sqlite'));
      assert.equal(live.status, 0, live.stderr);
      assert.match(live.stdout, /in the running server at/);
    } finally {
      assert.equal(await stop(child), 0);
    }
    assert.match(stderr(), /WARNING: --trust-sim-root: accepting SIMULATED evidence/);
    assert.match(stderr(), /release default\/disk\/app to session \S+ mrenclave=1111/);
    assert.match(
      stderr(),
      /refuse - session=\S+ .*401 policy-refused: attestation policy: MRENCLAVE 7777\S* is not allowed/,
    );
    assert.ok(!existsSync(file('kbs.sqlite.lock')));

    const audit = cli('audit', '--db', file('kbs.sqlite'));
    assert.equal(audit.status, 0, audit.stderr);
    assert.match(audit.stdout, /release +default\/disk\/app .*mrenclave=1111.*: policy met/);
    assert.match(audit.stdout, /refuse +default\/disk\/strict .*403 policy-refused/);
    const json = JSON.parse(
      cli('audit', '--db', file('kbs.sqlite'), '--json', '--limit', '2').stdout,
    ) as unknown[];
    assert.equal(json.length, 2);
  });

  it('serve writes hostile input to its log and audit escaped: no forged line, no raw control character', async () => {
    const { child, url, stderr } = await serve([...common(), '--trust-sim-root', '--audit-refusals', '1000']);
    const forged = '\n[fake] release default/disk/app to session x\r\u001b[2J\u001b[31m\u009b';
    try {
      for (const body of [
        JSON.stringify({ version: '0.4.0', tee: 'sgx', [forged]: 1 }),
        `{"version": ${forged}`,
      ]) {
        const r = await fetch(`${url}/kbs/v0/auth`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        assert.equal(r.status, 400);
      }
      assert.deepEqual(await simClient(url).getResource('default/disk/app'), DISK_KEY);
    } finally {
      assert.equal(await stop(child), 0);
    }
    // eslint-disable-next-line no-control-regex -- control characters are what it looks for
    const control = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
    assert.doesNotMatch(stderr(), control);
    for (const line of stderr().trimEnd().split('\n')) assert.match(line, /^kbs: \d{4}-\S+ /);
    assert.match(stderr(), /unexpected member \\"\\n\[fake\] release/);
    const audit = cli('audit', '--db', file('kbs.sqlite'), '--limit', '10');
    assert.equal(audit.status, 0, audit.stderr);
    assert.doesNotMatch(audit.stdout, control);
    for (const line of audit.stdout.trimEnd().split('\n'))
      assert.match(line, /^\d{4}-\S+ (release|refuse|store) /);
    assert.equal(cli('serve', ...common(), '--trust-sim-root', '--audit-refusals', '0').status, 2);
  });

  it('serve --tls speaks HTTPS', async () => {
    const { cert, key } = await selfSignedTls();
    writeFileSync(file('tls.pem'), cert);
    writeFileSync(file('tls.key'), key);
    const { child, url } = await serve([
      ...common(),
      '--trust-sim-root',
      '--tls',
      '--cert',
      file('tls.pem'),
      '--key',
      file('tls.key'),
    ]);
    try {
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const client = simClient(url, {}, httpsFetch(cert));
      assert.deepEqual(await client.getResource('default/disk/app'), DISK_KEY);
    } finally {
      await stop(child);
    }
  });
});
