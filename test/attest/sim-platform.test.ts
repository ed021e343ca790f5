// The sim CPU: local attestation (a REPORT only its target can check), seal key policies and the SVN
// rules, and the platform identity file.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { aesCmac } from '../../src/tee/sim/cmac.ts';
import { REPORT_SIZE, SimPlatform, SimPlatformError, targetInfoOf } from '../../src/tee/sim/platform.ts';
import { DEBUG_ATTRIBUTES, identity, newPlatform, platformPath } from './helpers/sim.ts';

const code = (c: string) => (e: unknown) => e instanceof SimPlatformError && e.code === c;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('AES-128-CMAC', () => {
  it('gives the RFC 4493 test vectors', () => {
    const key = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
    const m = Buffer.from(
      '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51' +
        '30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710',
      'hex',
    );
    assert.equal(hex(aesCmac(key, m.subarray(0, 0))), 'bb1d6929e95937287fa37d129b756746');
    assert.equal(hex(aesCmac(key, m.subarray(0, 16))), '070a16b46b4d4144f79bdd9dd04a287c');
    assert.equal(hex(aesCmac(key, m.subarray(0, 40))), 'dfa66747de9ae63030ca32611497c827');
    assert.equal(hex(aesCmac(key, m)), '51f0bebf7e3b9d92fc49741779363cfe');
  });
});

describe('local attestation', () => {
  const alice = identity();
  const bob = identity({ mrenclave: new Uint8Array(32).fill(0x33) });
  const carol = identity({ mrenclave: new Uint8Array(32).fill(0x44) });
  const data = new Uint8Array(64).fill(5);

  it('the target verifies a REPORT and reads the sender identity from it', async () => {
    const p = await newPlatform();
    const report = p.ereport(alice, targetInfoOf(bob), data);
    assert.equal(report.length, REPORT_SIZE);
    const body = p.verifyReport(bob, report);
    assert.deepEqual(body.mrEnclave, alice.mrenclave);
    assert.deepEqual(body.mrSigner, alice.mrsigner);
    assert.equal(body.isvProdId, 7);
    assert.equal(body.isvSvn, 3);
    assert.deepEqual(body.reportData, data);
    assert.deepEqual(body.cpuSvn, p.cpuSvn);
  });

  it('another enclave, the sender itself, and another platform cannot verify it', async () => {
    const p = await newPlatform();
    const report = p.ereport(alice, targetInfoOf(bob), data);
    assert.throws(() => p.verifyReport(carol, report), code('report-mac'));
    assert.throws(() => p.verifyReport(alice, report), code('report-mac'));
    // Same MRENCLAVE, other attributes (debug): a different report key.
    assert.throws(() => p.verifyReport({ ...bob, attributes: DEBUG_ATTRIBUTES }, report), code('report-mac'));
    const other = await newPlatform();
    assert.throws(() => other.verifyReport(bob, report), code('report-mac'));
  });

  it('any changed byte of body, key id or MAC is detected', async () => {
    const p = await newPlatform();
    const report = p.ereport(alice, targetInfoOf(bob), data);
    for (const at of [0, 64, 320, 383, 384, 415, 416, 431]) {
      const bad = Uint8Array.from(report);
      bad[at] ^= 1;
      assert.throws(() => p.verifyReport(bob, bad), code('report-mac'), `byte ${at}`);
    }
    assert.throws(() => p.verifyReport(bob, report.subarray(0, 431)), code('bad-report'));
  });

  it('rejects malformed identities and report data', async () => {
    const p = await newPlatform();
    assert.throws(() => p.ereport(alice, targetInfoOf(bob), new Uint8Array(32)), RangeError);
    assert.throws(
      () => p.ereport({ ...alice, mrenclave: new Uint8Array(31) }, targetInfoOf(bob), data),
      code('bad-identity'),
    );
    assert.throws(
      () => p.ereport({ ...alice, isvsvn: 70000 }, targetInfoOf(bob), data),
      code('bad-identity'),
    );
  });
});

describe('seal keys', () => {
  it('MRENCLAVE policy: only the same enclave; MRSIGNER policy: any enclave of that signer and product', async () => {
    const p = await newPlatform();
    const v1 = identity();
    const v1b = identity({ mrenclave: new Uint8Array(32).fill(0x55) });
    const byEnclave = p.egetkey(v1, { name: 'seal', policy: 'MRENCLAVE' });
    const bySigner = p.egetkey(v1, { name: 'seal', policy: 'MRSIGNER' });
    assert.equal(byEnclave.length, 16);
    assert.notDeepEqual(byEnclave, bySigner);
    assert.deepEqual(p.egetkey(v1, { name: 'seal', policy: 'MRENCLAVE' }), byEnclave);
    assert.notDeepEqual(p.egetkey(v1b, { name: 'seal', policy: 'MRENCLAVE' }), byEnclave);
    assert.deepEqual(p.egetkey(v1b, { name: 'seal', policy: 'MRSIGNER' }), bySigner);
    // Another signer, another product, a debug build: other keys.
    assert.notDeepEqual(p.egetkey(identity({ mrsigner: new Uint8Array(32) }), { name: 'seal' }), bySigner);
    assert.notDeepEqual(p.egetkey(identity({ isvprodid: 8 }), { name: 'seal' }), bySigner);
    assert.notDeepEqual(p.egetkey(identity({ attributes: DEBUG_ATTRIBUTES }), { name: 'seal' }), bySigner);
    // Another platform: other keys; the key id separates keys too.
    assert.notDeepEqual((await newPlatform()).egetkey(v1, { name: 'seal' }), bySigner);
    assert.notDeepEqual(p.egetkey(v1, { name: 'seal', keyId: new Uint8Array(32).fill(1) }), bySigner);
  });

  it('a newer ISVSVN derives older keys, never the reverse', async () => {
    const p = await newPlatform();
    const v3 = identity({ isvsvn: 3 });
    const v5 = identity({ isvsvn: 5, mrenclave: new Uint8Array(32).fill(0x66) });
    const sealedByV3 = p.egetkey(v3, { name: 'seal', policy: 'MRSIGNER' });
    assert.deepEqual(p.egetkey(v5, { name: 'seal', policy: 'MRSIGNER', isvsvn: 3 }), sealedByV3);
    assert.notDeepEqual(p.egetkey(v5, { name: 'seal', policy: 'MRSIGNER' }), sealedByV3);
    assert.throws(
      () => p.egetkey(v3, { name: 'seal', policy: 'MRSIGNER', isvsvn: 5 }),
      code('isvsvn-too-high'),
    );
  });

  it('an older CPUSVN can be requested, a newer one cannot', async () => {
    const p = await newPlatform();
    const older = Uint8Array.from(p.cpuSvn);
    older[0] -= 1;
    const current = p.egetkey(identity(), { name: 'seal' });
    const old = p.egetkey(identity(), { name: 'seal', cpusvn: older });
    assert.notDeepEqual(old, current);
    const newer = Uint8Array.from(p.cpuSvn);
    newer[3] += 1;
    assert.throws(() => p.egetkey(identity(), { name: 'seal', cpusvn: newer }), code('cpusvn-too-high'));
    assert.throws(
      () => p.egetkey(identity(), { name: 'seal', cpusvn: new Uint8Array(15) }),
      code('bad-key-request'),
    );
    assert.throws(
      () => p.egetkey(identity(), { name: 'seal', keyId: new Uint8Array(16) }),
      code('bad-key-request'),
    );
  });

  it('report keys differ from seal keys', async () => {
    const p = await newPlatform();
    assert.notDeepEqual(p.egetkey(identity(), { name: 'report' }), p.egetkey(identity(), { name: 'seal' }));
  });
});

describe('platform identity file', () => {
  it('is created on first use with mode 0600 and reopened with the same secrets', async () => {
    const path = platformPath();
    const a = await SimPlatform.open({ path });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const file = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    assert.equal(file.format, 'cloister-sim-platform');
    assert.match(file.rootSecret as string, /^[0-9a-f]{64}$/);
    const b = await SimPlatform.open({ path });
    assert.deepEqual(b.egetkey(identity(), { name: 'seal' }), a.egetkey(identity(), { name: 'seal' }));
    // A REPORT made in one "process" verifies in another opened on the same file.
    const report = a.ereport(identity(), targetInfoOf(identity({ isvsvn: 9 })), new Uint8Array(64));
    assert.doesNotThrow(() => b.verifyReport(identity({ isvsvn: 9 }), report));
  });

  it('two openers creating it at once end up with one platform, and no temporary file is left', async () => {
    const path = platformPath();
    const [a, b] = await Promise.all([SimPlatform.open({ path }), SimPlatform.open({ path })]);
    assert.deepEqual(a.egetkey(identity(), { name: 'seal' }), b.egetkey(identity(), { name: 'seal' }));
    assert.deepEqual(a.rootCertificateDer, b.rootCertificateDer);
    assert.deepEqual(readdirSync(dirname(path)), ['sim-platform.json']);
  });

  it('uses $CLOISTER_SIM_PLATFORM; refuses a file others can read, a damaged file, and a missing one when asked', async () => {
    const path = platformPath();
    const saved = process.env.CLOISTER_SIM_PLATFORM;
    process.env.CLOISTER_SIM_PLATFORM = path;
    try {
      assert.equal((await SimPlatform.open()).path, path);
    } finally {
      if (saved === undefined) delete process.env.CLOISTER_SIM_PLATFORM;
      else process.env.CLOISTER_SIM_PLATFORM = saved;
    }
    chmodSync(path, 0o644);
    await assert.rejects(SimPlatform.open({ path }), code('platform-file-permissions'));
    chmodSync(path, 0o600);
    const text = readFileSync(path, 'utf8');
    for (const damaged of [
      '',
      '[]',
      '{"format":"x"}',
      text.replace(/"rootSecret": "[0-9a-f]+"/, '"rootSecret": "00"'),
    ]) {
      writeFileSync(path, damaged);
      await assert.rejects(SimPlatform.open({ path }), code('bad-platform-file'), damaged.slice(0, 20));
    }
    // Certificates and keys are parsed on first use (quotes, collateral): a damaged one is refused
    // there, by every accessor that quotes and collateral go through, while EREPORT and EGETKEY (which do not use them) still work.
    writeFileSync(path, text.replace(/MII[A-Za-z0-9+/]{20}/, 'MIIAAAAAAAAAAAAAAAAAAAAA'));
    const damagedKeys = await SimPlatform.open({ path });
    assert.equal(damagedKeys.egetkey(identity(), { name: 'seal' }).length, 16);
    assert.throws(() => damagedKeys.pki, code('bad-platform-file'));
    assert.throws(() => damagedKeys.rootCertificateDer, code('bad-platform-file'));
    assert.throws(() => damagedKeys.attestationKey, code('bad-platform-file'));
    assert.throws(() => damagedKeys.pckKey, code('bad-platform-file'));
    await assert.rejects(SimPlatform.open({ path: platformPath(), create: false }), code('no-platform'));
  });

  it('a platform that cannot be created is a clear error, also where Node 20 recursive mkdir never returns (/proc)', async () => {
    await assert.rejects(
      SimPlatform.open({ path: '/proc/cloister-none/sim-platform.json' }),
      (e: unknown) =>
        e instanceof SimPlatformError &&
        e.code === 'no-platform' &&
        /cannot create a sim platform at \/proc\/cloister-none\/sim-platform\.json: ENOENT/.test(e.message),
    );
  });
});
