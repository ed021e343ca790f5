// The trust rules of a JavaScript enclave: its seal key is bound to its identity (another app
// bundle cannot unseal), its quotes verify with the sim root and only with it and carry its
// MRENCLAVE, and the app code reaches no Node I/O at run time.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { VerificationError } from '../../src/attestation/errors.ts';
import { verifyDcapQuote } from '../../src/attestation/verify-dcap.ts';
import { JsEnclaveError, measureJsApp, type JsEnclave } from '../../src/host/js-enclave.ts';
import { SimPlatform } from '../../src/tee/sim/platform.ts';
import { simCollateral } from '../../src/tee/sim/quoting.ts';
import { TestEnclaves, vaultApp } from './helpers.ts';

const SECRET = new TextEncoder().encode('canary-4f1c8d');
const AAD = Uint8Array.of(1, 2, 3);

describe('JavaScript enclave sealing and attestation', () => {
  const enclaves = new TestEnclaves();
  let enclave: JsEnclave;
  before(async () => {
    enclave = await enclaves.launch({ config: { settings: { job: 'wc' } } });
  });
  after(() => enclaves.close());

  it('runs with the MRENCLAVE of its runtime, app bundle and configuration', async () => {
    assert.deepEqual(enclave.mrenclave, measureJsApp(await vaultApp(), { settings: { job: 'wc' } }));
    const seen = enclave.callSync('identity', []) as { mrenclave: Uint8Array; config: unknown };
    assert.deepEqual(seen.mrenclave, enclave.mrenclave);
    assert.deepEqual(seen.config, { job: 'wc' });
  });

  it('seals so that the same identity unseals, and nothing else does', async () => {
    enclave.callSync('setSecret', [SECRET]);
    const sealed = enclave.callSync('sealSecret', [AAD]) as Uint8Array;
    assert.equal(Buffer.from(sealed).indexOf(Buffer.from(SECRET)), -1, 'no plaintext in the blob');

    // The same app and configuration, relaunched: the same seal key.
    const again = await enclaves.launch({ config: { settings: { job: 'wc' } } });
    assert.equal(again.callSync('unsealSecret', [sealed, AAD]), SECRET.length);
    assert.equal(again.callSync('digestSecret', []), enclave.callSync('digestSecret', []));

    // Wrong associated data, a flipped bit: refused.
    assert.throws(() => again.callSync('unsealSecret', [sealed, Uint8Array.of(9)]), /unseal failed/);
    const flipped = sealed.slice();
    flipped[20] ^= 1;
    assert.throws(() => again.callSync('unsealSecret', [flipped, AAD]), /unseal failed/);

    // Another configuration is another identity: its seal key differs.
    const other = await enclaves.launch({ config: { settings: { job: 'other' } } });
    assert.throws(() => other.callSync('unsealSecret', [sealed, AAD]), /unseal failed/);

    // Another app bundle (one byte changed) cannot unseal either.
    const tampered = (await vaultApp()).replace('no secret set', 'no secret sat');
    const thief = await enclaves.launch({ appBundle: tampered, config: { settings: { job: 'wc' } } });
    assert.notDeepEqual(thief.mrenclave, enclave.mrenclave);
    assert.throws(
      () => thief.callSync('unsealSecret', [sealed, AAD]),
      (e: unknown) => e instanceof JsEnclaveError && /unseal failed/.test(e.message),
    );
  });

  it('a secret unsealed inside never appears in the memory the host shares with the enclave', async () => {
    enclave.callSync('setSecret', [SECRET]);
    const sealed = enclave.callSync('sealSecret', [AAD]) as Uint8Array;
    const fresh = await enclaves.launch({ config: { settings: { job: 'wc' } } });
    fresh.callSync('unsealSecret', [sealed, AAD]);
    fresh.callSync('digestSecret', []);
    await fresh.call('quoteWith', [new Uint8Array(64)]);
    fresh.callSync('echo', ['done']);
    assert.ok(fresh.hostVisibleMemory.length >= 4);
    for (const shared of fresh.hostVisibleMemory) {
      assert.equal(Buffer.from(shared).indexOf(Buffer.from(SECRET)), -1);
    }
    // The scan does find what did cross in clear: the last request's argument.
    assert.ok(fresh.hostVisibleMemory.some((m) => Buffer.from(m).indexOf('done') >= 0));
  });

  it('quotes from inside verify with the sim root, carry the MRENCLAVE and report data, and fail without that root', async () => {
    const reportData = Uint8Array.from({ length: 64 }, (_, i) => i);
    const quote = (await enclave.call('quoteWith', [reportData])) as Uint8Array;
    const platform = await SimPlatform.open({ path: enclaves.platform, create: false });
    const collateral = await simCollateral(platform);
    const verdict = await verifyDcapQuote(quote, { collateral, trustedRoot: platform.rootCertificateDer });
    assert.equal(verdict.status, 'UpToDate');
    const body = verdict.quote.body as { mrEnclave: Uint8Array; reportData: Uint8Array };
    assert.deepEqual(Uint8Array.from(body.mrEnclave), enclave.mrenclave);
    assert.deepEqual(Uint8Array.from(body.reportData), reportData);
    await assert.rejects(
      verifyDcapQuote(quote, { collateral }),
      (e: unknown) => e instanceof VerificationError && e.code === 'untrusted-root',
    );
    assert.throws(() => enclave.callSync('quoteWith', [new Uint8Array(10)]), /64 bytes of report data/);
  });
});

describe('JavaScript enclave app code at run time', () => {
  const enclaves = new TestEnclaves();
  let enclave: JsEnclave;
  before(async () => {
    enclave = await enclaves.launch();
  });
  after(() => enclaves.close());

  it('sees no process, require or fetch, and runs in strict mode', () => {
    assert.equal(enclave.callSync('probe', ['process']), 'undefined');
    assert.equal(enclave.callSync('probe', ['require']), 'undefined');
    assert.equal(enclave.callSync('probe', ['fetch']), 'undefined');
    assert.equal(enclave.callSync('probe', ['this']), 'true');
  });

  it('cannot make code from strings (which could import Node modules)', () => {
    assert.match(
      enclave.callSync('probe', ['function-constructor']) as string,
      /refused: EvalError: code generation/,
    );
    assert.match(enclave.callSync('probe', ['eval']) as string, /refused: ReferenceError/);
  });

  it('cannot import a Node module at run time with a computed import()', async () => {
    assert.match((await enclave.call('dynamicImport', ['node:fs'])) as string, /^refused/);
    assert.match((await enclave.call('dynamicImport', ['node:child_process'])) as string, /^refused/);
  });

  it('an unbundled app: require of an I/O module and process.binding fail at load or call time', async () => {
    const app = [
      `exports.fs = () => require('fs');`,
      `exports.binding = () => process.binding('fs');`,
      `exports.engine = () => typeof require('node:crypto').setEngine;`,
      `exports.hash = () => require('node:crypto').createHash('sha256').update('x').digest('hex');`,
    ].join('\n');
    const raw = await enclaves.launch({ appBundle: app });
    assert.throws(() => raw.callSync('fs', []), /require\("fs"\): not available inside the enclave/);
    assert.throws(() => raw.callSync('binding', []), /process is not defined/);
    assert.equal(raw.callSync('engine', []), 'undefined');
    assert.match(raw.callSync('hash', []) as string, /^[0-9a-f]{64}$/);
    await assert.rejects(
      enclaves.launch({ appBundle: `require('child_process').execSync('id');` }),
      /could not load the application: SandboxError/,
    );
  });
  it('randomBytes with a callback: fresh bytes of the size asked, on a later turn, large sizes too', async () => {
    const app = [
      `const { randomBytes } = require('node:crypto');`,
      `const draw = (n) => new Promise((resolve, reject) => {`,
      `  let returned = false;`,
      `  randomBytes(n, (e, b) => (e ? reject(e) : resolve([returned, b.length, b.toString('hex')])));`,
      `  returned = true;`,
      `});`,
      `exports.draw = async (n) => { const [a, b] = [await draw(n), await draw(n)]; return [a[0], a[1], a[2] !== b[2]]; };`,
      `exports.bad = () => new Promise((resolve) => { try { randomBytes(-1, () => resolve('called')); } catch (e) { resolve(e.name); } });`,
    ].join('\n');
    const raw = await enclaves.launch({ appBundle: app });
    assert.deepEqual(await raw.call('draw', [32]), [true, 32, true], 'called back after it returned');
    assert.deepEqual(await raw.call('draw', [100_000]), [true, 100_000, true], "over 64 KiB: Node's own");
    assert.equal(await raw.call('bad', []), 'RangeError');
  });
});
