// `cloister sign | quote | attest verify | attest collateral`: a signed program quoted by the sim
// platform verifies only with --trust-sim-root and only when it meets the policy; exit codes 0/1/2.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCli, tempDir, watFile } from '../helpers/cli.ts';
import type { CliResult } from '../helpers/cli.ts';
import { SimPlatform } from '../../src/tee/sim/platform.ts';
import { simCollateral } from '../../src/tee/sim/quoting.ts';
import { VECTORS } from '../attestation/helpers/vectors.ts';

const DCAP = new URL('dcap-qvl/', VECTORS);
const dir = tempDir('cloister-attest-cli-');
const env = { CLOISTER_SIM_PLATFORM: join(dir, 'platform', 'sim-platform.json') };
const cli = (...args: string[]): Promise<CliResult> => runCli(args, { env, cwd: dir });
const file = (name: string): string => join(dir, name);
const json = (name: string, value: unknown): string => {
  writeFileSync(file(name), typeof value === 'string' ? value : JSON.stringify(value));
  return file(name);
};

let wasm: string;
let mrenclave: string;
let mrsigner: string;

describe('cloister sign, quote, attest', () => {
  before(async () => {
    wasm = await watFile('app', '(module (func (export "_start")) (memory (export "memory") 1))');
    const r = await cli(
      'sign',
      wasm,
      '--tmpfs',
      '/data',
      '--key',
      file('k.pem'),
      '--generate-key',
      '-o',
      file('app.sig'),
      '--isvprodid',
      '5',
      '--isvsvn',
      '2',
    );
    assert.equal(r.code, 0, r.stderr);
    mrenclave = /mrenclave\s+([0-9a-f]{64})/.exec(r.stdout)![1];
    mrsigner = /mrsigner\s+([0-9a-f]{64})/.exec(r.stdout)![1];
    const q = await cli(
      'quote',
      '--program',
      wasm,
      '--tmpfs',
      '/data',
      '--sig',
      file('app.sig'),
      '--report-data',
      'c0ffee',
      '-o',
      file('q.bin'),
    );
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stderr, /SIMULATED/);
    const c = await cli('attest', 'collateral', '-o', file('coll.json'));
    assert.equal(c.code, 0, c.stderr);
  });

  it('sign writes a SIGSTRUCT over the measurement, and a 0600 key', async () => {
    assert.equal(readFileSync(file('app.sig')).length, 1808);
    assert.equal(statSync(file('k.pem')).mode & 0o777, 0o600);
    assert.equal(statSync(env.CLOISTER_SIM_PLATFORM).mode & 0o777, 0o600);
    const m = await cli('measure', '--tmpfs', '/data', wasm);
    assert.equal(m.stdout.trim(), mrenclave);
    assert.match(readFileSync(file('app.sig')).subarray(960, 992).toString('hex'), new RegExp(mrenclave));
    const again = await cli('sign', wasm, '--key', file('k.pem'), '--generate-key', '-o', file('x.sig'));
    assert.equal(again.code, 2);
    assert.match(again.stderr, /^cloister: error: --generate-key: .* exists/);
  });

  it('attest verify: refused with Intel root (exit 1), verified with --trust-sim-root, saying it is simulated', async () => {
    const intel = await cli('attest', 'verify', file('q.bin'), '--collateral', file('coll.json'));
    assert.equal(intel.code, 1);
    assert.match(intel.stderr, /cloister: error: verification failed \(untrusted-root\)/);
    const sim = await cli(
      'attest',
      'verify',
      file('q.bin'),
      '--collateral',
      file('coll.json'),
      '--trust-sim-root',
    );
    assert.equal(sim.code, 0, sim.stderr);
    assert.match(sim.stdout, /^evidence +SIMULATED/);
    assert.match(sim.stdout, /status +UpToDate/);
    assert.match(sim.stdout, new RegExp(`mrenclave +${mrenclave}`));
    assert.match(sim.stdout, /report data +c0ffee0{122}\n/);
    assert.match(sim.stderr, /SIMULATED evidence/);
  });

  it('attest verify --policy: exit 0 when met, 1 with the rule when not; --json says the same', async () => {
    const good = json('good.json', {
      mrenclave: [mrenclave],
      mrsigner: [mrsigner],
      isvprodid: 5,
      minIsvsvn: 2,
      reportData: 'c0ffee',
    });
    const ok = await cli(
      'attest',
      'verify',
      file('q.bin'),
      '--collateral',
      file('coll.json'),
      '--trust-sim-root',
      '--policy',
      good,
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /policy +met/);
    const cases: [object, string][] = [
      [{ mrenclave: ['00'.repeat(32)] }, 'mrenclave'],
      [{ mrsigner: ['00'.repeat(32)] }, 'mrsigner'],
      [{ minIsvsvn: 3 }, 'isvsvn'],
      [{ reportData: 'c0ffef' }, 'report-data'],
    ];
    for (const [policy, rule] of cases) {
      const r = await cli(
        'attest',
        'verify',
        file('q.bin'),
        '--collateral',
        file('coll.json'),
        '--trust-sim-root',
        '--json',
        '--policy',
        json('p.json', policy),
      );
      assert.equal(r.code, 1, rule);
      const out = JSON.parse(r.stdout) as {
        ok: boolean;
        simulated: boolean;
        policy: string;
        error: { code: string };
      };
      assert.deepEqual([out.ok, out.simulated, out.policy, out.error.code], [false, true, 'refused', rule]);
    }
  });

  it('a debug enclave is refused by the default policy', async () => {
    const s = await cli(
      'sign',
      wasm,
      '--tmpfs',
      '/data',
      '--key',
      file('k.pem'),
      '--debug',
      '-o',
      file('debug.sig'),
    );
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /debug +yes/);
    const q = await cli(
      'quote',
      '--program',
      wasm,
      '--tmpfs',
      '/data',
      '--sig',
      file('debug.sig'),
      '--report-data',
      '00',
      '-o',
      file('dq.bin'),
    );
    assert.equal(q.code, 0, q.stderr);
    const r = await cli(
      'attest',
      'verify',
      file('dq.bin'),
      '--collateral',
      file('coll.json'),
      '--trust-sim-root',
      '--policy',
      json('empty.json', {}),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /verification failed \(debug\)/);
    assert.match(r.stdout, /debug +yes/);
  });

  it('expired collateral, a truncated quote and a changed byte fail with exit 1', async () => {
    const late = await cli(
      'attest',
      'verify',
      file('q.bin'),
      '--collateral',
      file('coll.json'),
      '--trust-sim-root',
      '--at',
      '2099-01-01T00:00:00Z',
    );
    assert.equal(late.code, 1);
    assert.match(late.stderr, /-expired\)/);
    const q = readFileSync(file('q.bin'));
    writeFileSync(file('short.bin'), q.subarray(0, 300));
    const short = await cli(
      'attest',
      'verify',
      file('short.bin'),
      '--collateral',
      file('coll.json'),
      '--trust-sim-root',
    );
    assert.equal(short.code, 1);
    assert.match(short.stderr, /\(truncated\)/);
    q[48 + 320] ^= 1; // report data
    writeFileSync(file('flip.bin'), q);
    const flip = await cli(
      'attest',
      'verify',
      file('flip.bin'),
      '--collateral',
      file('coll.json'),
      '--trust-sim-root',
    );
    assert.equal(flip.code, 1);
    assert.match(flip.stderr, /\(quote-signature\)/);
  });

  it('the real Intel vector (ConfigurationAndSWHardeningNeeded) is refused without a policy opting in, naming its advisories', async () => {
    const quote = new URL('sgx_quote', DCAP).pathname;
    const coll = new URL('sgx_quote_collateral.json', DCAP).pathname;
    const verifyAt = (...extra: string[]) =>
      cli('attest', 'verify', quote, '--collateral', coll, '--at', '2025-07-01T00:00:00Z', ...extra);
    const r = await verifyAt('--json');
    assert.equal(r.code, 1, 'the default accepts only UpToDate');
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      simulated: boolean;
      status: string;
      advisoryIds: string[];
      error: { code: string; message: string };
    };
    assert.equal(out.ok, false);
    assert.equal(out.simulated, false);
    assert.equal(out.status, 'ConfigurationAndSWHardeningNeeded');
    assert.deepEqual([...out.advisoryIds].sort(), ['INTEL-SA-00289', 'INTEL-SA-00615']);
    assert.equal(out.error.code, 'tcb-status');
    assert.match(r.stderr, /\(tcb-status\).*ConfigurationAndSWHardeningNeeded.*INTEL-SA-00289/);
    const text = await verifyAt();
    assert.equal(text.code, 1);
    assert.match(
      text.stdout,
      /advisories +INTEL-SA-00289, INTEL-SA-00615|advisories +INTEL-SA-00615, INTEL-SA-00289/,
    );
    assert.match(text.stdout, /NOT verified/);
    // A policy that says nothing about TCB statuses keeps the default.
    const p = await verifyAt('--policy', json('d.json', { allowDebug: true }));
    assert.equal(p.code, 1);
    assert.match(p.stderr, /\(tcb-status\)/);
    // The explicit opt-in verifies, and says which advisories the tenant accepted.
    const optIn = json('hardening.json', {
      acceptedTcbStatuses: ['UpToDate', 'ConfigurationAndSWHardeningNeeded'],
    });
    const ok = await verifyAt('--policy', optIn);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /policy +met\nverified\n$/);
    assert.match(
      ok.stderr,
      /warning: TCB status ConfigurationAndSWHardeningNeeded accepted by --policy; advisories that apply: INTEL-SA-00/,
    );
    const sim = await verifyAt('--trust-sim-root', '--policy', optIn);
    assert.equal(sim.code, 1, 'Intel evidence is not sim evidence');
  });

  it('every TCB status other than UpToDate needs the explicit opt-in', async () => {
    const platform = await SimPlatform.open({ path: env.CLOISTER_SIM_PLATFORM });
    for (const status of [
      'SWHardeningNeeded',
      'ConfigurationNeeded',
      'ConfigurationAndSWHardeningNeeded',
      'OutOfDate',
      'OutOfDateConfigurationNeeded',
    ] as const) {
      const coll = json(
        `coll-${status}.json`,
        await simCollateral(platform, { platformStatus: status, advisoryIds: ['INTEL-SA-00999'] }),
      );
      const plain = await cli('attest', 'verify', file('q.bin'), '--collateral', coll, '--trust-sim-root');
      assert.equal(plain.code, 1, `${status} without a policy`);
      assert.match(plain.stdout, new RegExp(`status +${status}\n`));
      assert.match(plain.stdout, /advisories +INTEL-SA-00999\n/);
      assert.match(
        plain.stderr,
        new RegExp(`\\(tcb-status\\): policy: TCB status ${status} .*INTEL-SA-00999`),
      );
      const policy = json(`accept-${status}.json`, { acceptedTcbStatuses: [status] });
      const opted = await cli(
        'attest',
        'verify',
        file('q.bin'),
        '--collateral',
        coll,
        '--trust-sim-root',
        '--policy',
        policy,
      );
      assert.equal(opted.code, 0, `${status} with a policy accepting it: ${opted.stderr}`);
      assert.match(
        opted.stderr,
        new RegExp(`TCB status ${status} accepted by --policy; advisories that apply: INTEL-SA-00999`),
      );
    }
  });

  it('usage errors exit 2 with one line', async () => {
    const q = file('q.bin');
    const c = file('coll.json');
    const cases: string[][] = [
      ['attest', 'verify', q],
      ['attest', 'verify', file('none.bin'), '--collateral', c],
      ['attest', 'verify', q, '--collateral', file('none.json')],
      ['attest', 'verify', q, '--collateral', json('notjson.json', '{')],
      ['attest', 'verify', q, '--collateral', c, '--at', 'yesterday'],
      ['attest', 'verify', q, '--collateral', c, '--policy', json('bad1.json', '{"__proto__":{}}')],
      ['attest', 'verify', q, '--collateral', c, '--policy', json('bad2.json', '[1]')],
      ['attest', 'verify', q, '--collateral', c, '--policy', json('bad3.json', { allowDebug: 'yes' })],
      ['quote', '--program', wasm, '--sig', file('app.sig'), '--report-data', 'xyz', '-o', file('o.bin')],
      [
        'quote',
        '--program',
        wasm,
        '--sig',
        file('app.sig'),
        '--report-data',
        '00'.repeat(65),
        '-o',
        file('o.bin'),
      ],
      // Signed with --tmpfs /data: without it the program measures differently.
      ['quote', '--program', wasm, '--sig', file('app.sig'), '--report-data', '00', '-o', file('o.bin')],
      [
        'quote',
        '--program',
        wasm,
        '--tmpfs',
        '/data',
        '--sig',
        file('k.pem'),
        '--report-data',
        '00',
        '-o',
        file('o.bin'),
      ],
      ['sign', wasm, '--key', file('none.pem'), '-o', file('o.sig')],
      ['sign', wasm, '--key', file('k.pem'), '-o', file('o.sig'), '--isvsvn', '70000'],
      ['attest', 'collateral'],
    ];
    for (const args of cases) {
      const r = await cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^cloister: error: [^\n]+\n$/, args.join(' '));
    }
    const noPlatform = await runCli(['attest', 'verify', q, '--collateral', c, '--trust-sim-root'], {
      env: { CLOISTER_SIM_PLATFORM: join(dir, 'nowhere', 'p.json') },
    });
    assert.equal(noPlatform.code, 2);
    assert.match(noPlatform.stderr, /no sim platform/);
  });
});
