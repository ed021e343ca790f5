// Attestation from inside a running enclave: /dev/attestation quotes verify with the sim root
// (and only with it), carry the program's measurement and report data, and seal keys follow
// the enclave's identity.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/cli.ts';

const dir = tempDir('cloister-attest-');
const env = { CLOISTER_SIM_PLATFORM: join(dir, 'platform.json') };
const out = join(dir, 'out');
mkdirSync(out);
const reportData = 'c0ffee'.repeat(10) + 'abcd';
const mounts = ['--tmpfs', '/', '--dir', `${out}::/out`];

async function sqlite(sql: string, extra: string[] = []): Promise<string> {
  const r = await runCli(['run', ...extra, ...mounts, 'examples/sqlite3.wasm'], { input: sql, env });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe('/dev/attestation inside the enclave', () => {
  it('gives a quote that verifies with the sim root only, for this measurement and report data', async () => {
    await sqlite(
      `select writefile('/dev/attestation/user_report_data', x'${reportData}');\n` +
        "select writefile('/out/quote.bin', readfile('/dev/attestation/quote'));\n",
    );
    const measured = await runCli(['measure', ...mounts, 'examples/sqlite3.wasm'], { env });
    const collateral = join(dir, 'coll.json');
    assert.equal((await runCli(['attest', 'collateral', '-o', collateral], { env })).code, 0);
    const ok = await runCli(
      ['attest', 'verify', join(out, 'quote.bin'), '--collateral', collateral, '--trust-sim-root', '--json'],
      {
        env,
      },
    );
    assert.equal(ok.code, 0, ok.stderr);
    const verdict = JSON.parse(ok.stdout) as Record<string, unknown>;
    const text = JSON.stringify(verdict);
    assert.ok(text.includes(measured.stdout.trim()), 'the quote carries the measured MRENCLAVE');
    assert.ok(text.includes(reportData.padEnd(128, '0')), 'and the report data the program wrote');
    const refused = await runCli(['attest', 'verify', join(out, 'quote.bin'), '--collateral', collateral], {
      env,
    });
    assert.equal(refused.code, 1, 'a verifier that trusts only Intel refuses sim evidence');
    assert.match(refused.stderr, /untrusted-root/);
  });

  it('derives seal keys from the identity: stable per enclave, different for another', async () => {
    const sql =
      "select hex(readfile('/dev/attestation/keys/_sgx_mrenclave')), hex(readfile('/dev/attestation/keys/_sgx_mrsigner'));\n";
    const a = await sqlite(sql);
    const b = await sqlite(sql);
    const other = await sqlite(sql, ['--env', 'X=1']);
    assert.match(a, /^[0-9A-F]{32}\|[0-9A-F]{32}\n$/);
    assert.equal(a, b, 'the same enclave gets the same keys in every run');
    const [mrenclaveKey, mrsignerKey] = a.trim().split('|');
    const [otherEnclaveKey, otherSignerKey] = other.trim().split('|');
    assert.notEqual(otherEnclaveKey, mrenclaveKey, 'MRENCLAVE policy: another enclave cannot unseal');
    assert.equal(otherSignerKey, mrsignerKey, 'MRSIGNER policy: same (unsigned) signer, same key');
  });

  it('makes REPORTs for the target it is given, and exposes its own TARGETINFO', async () => {
    const stdout = await sqlite(
      "select length(readfile('/dev/attestation/my_target_info')), length(readfile('/dev/attestation/report'));\n" +
        "select writefile('/out/report.bin', readfile('/dev/attestation/report'));\n",
    );
    assert.equal(stdout.split('\n')[0], '512|432');
    const report = readFileSync(join(out, 'report.bin'));
    assert.equal(report.length, 432);
  });

  it('refuses to start under a SIGSTRUCT signed for another enclave', async () => {
    const key = join(dir, 'signer.pem');
    const sig = join(dir, 'app.sig');
    const signed = await runCli(
      ['sign', ...mounts, 'examples/sqlite3.wasm', '--key', key, '--generate-key', '-o', sig],
      { env },
    );
    assert.equal(signed.code, 0, signed.stderr);
    const good = await runCli(['run', '--sig', sig, ...mounts, 'examples/sqlite3.wasm'], {
      input: 'select 1;\n',
      env,
    });
    assert.equal(good.code, 0, good.stderr);
    const bad = await runCli(['run', '--sig', sig, '--tmpfs', '/elsewhere', 'examples/sqlite3.wasm'], {
      input: 'select 1;\n',
      env,
    });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /SIGSTRUCT was signed for another enclave/);
  });
});
