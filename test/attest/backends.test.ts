// The TEE backends through their interface (src/tee/backend.ts): the registry, the skeleton, and the
// tdx and snp backends against a fake confidential VM (helpers/fake-tsm.ts) whose kernel answers with
// real TDX/SNP evidence, evidence signed by a test AMD chain, or hostile blobs.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Collateral } from '../../src/attestation/collateral.ts';
import {
  cvmReportData,
  isCvmBinding,
  rtmrEventDigest,
  rtmrReplay,
} from '../../src/attestation/cvm-binding.ts';
import { VerificationError } from '../../src/attestation/errors.ts';
import { parseQuote } from '../../src/attestation/quote.ts';
import { verifySnpEnclaveEvidence, verifyTdxEnclaveEvidence } from '../../src/attestation/verify-cvm.ts';
import { BackendUnsupported } from '../../src/tee/backend.ts';
import type { EnclavePlatform } from '../../src/tee/backend.ts';
import { BACKEND_NAMES, backendByName } from '../../src/tee/backends.ts';
import { CvmQuoteError } from '../../src/tee/cvm/platform.ts';
import { skeletonBackend } from '../../src/tee/skeleton/backend.ts';
import { snpBackend } from '../../src/tee/snp/backend.ts';
import { tdxBackend } from '../../src/tee/tdx/backend.ts';
import { RtmrError } from '../../src/tee/tdx/rtmr.ts';
import { TsmError, TSM_BLOB_MAX } from '../../src/tee/tsm.ts';
import { SNP_AT, makeSnpPki } from '../attestation/helpers/snp-pki.ts';
import { VECTORS } from '../attestation/helpers/vectors.ts';
import { fakeVm } from './helpers/fake-tsm.ts';
import { runCli, watFile } from '../helpers/cli.ts';

const TDX_QUOTE = new Uint8Array(readFileSync(new URL('dcap-qvl/tdx_quote', VECTORS)));
const TDX_COLLATERAL = JSON.parse(
  readFileSync(new URL('dcap-qvl/tdx_quote_collateral.json', VECTORS), 'utf8'),
) as Collateral;
const SNP_REPORT = new Uint8Array(readFileSync(new URL('go-sev-guest/attestation.bin', VECTORS)));
const DCAP_AT = new Date('2025-07-01T00:00:00Z');

const MRENCLAVE = new Uint8Array(32).fill(0x42);
const REPORT_DATA = new Uint8Array(64).fill(0x17);

/** The enclave's side of a quote: a REPORT targeted at the quote service, then the quote. */
async function quoteOf(platform: EnclavePlatform, reportData = REPORT_DATA): Promise<Uint8Array> {
  return platform.quote(platform.localReport(platform.quoteTarget(), reportData));
}

/** The real TDX quote with its report data replaced: what a kernel would return, but its signature breaks. */
const tdxWithReportData = (reportData: Uint8Array): Uint8Array => {
  const q = TDX_QUOTE.slice();
  q.set(reportData, 48 + 520);
  return q;
};

describe('backend registry', () => {
  it('registers sim, tdx and snp, sim first; an unknown name says which exist', () => {
    assert.deepEqual(BACKEND_NAMES, ['sim', 'tdx', 'snp']);
    assert.equal(backendByName('sim').hardwareIsolation, false);
    assert.match(backendByName('sim').proves, /no hardware isolation/);
    assert.throws(() => backendByName('sgx'), /unknown backend "sgx" \(registered: sim, tdx, snp\)/);
  });

  // Inside a real confidential VM these backends would run; everywhere else the program must not start.
  const inCvm = existsSync('/sys/kernel/config/tsm/report');
  it(
    'cloister run --backend tdx|snp refuses to start the program outside a confidential VM',
    { skip: inCvm },
    async () => {
      const marker = 'started-unattested';
      const path = await watFile(
        'marker',
        `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "${marker}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const ${marker.length}))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`,
      );
      const sim = await runCli(['run', path]);
      assert.equal(sim.stdout, marker);
      for (const backend of ['tdx', 'snp']) {
        const r = await runCli(['run', '--backend', backend, path]);
        assert.notEqual(r.code, 0, backend);
        assert.equal(r.stdout, '', backend);
        assert.match(r.stderr, /configfs-tsm is not available|not a TDX guest/, backend);
        assert.doesNotMatch(r.stderr, /sim backend/, backend);
      }
    },
  );

  it('the skeleton refuses every part by name', async () => {
    await assert.rejects(skeletonBackend.measure(MRENCLAVE), /does not implement measure/);
    await assert.rejects(skeletonBackend.openPlatform({ mrenclave: MRENCLAVE }), BackendUnsupported);
    assert.throws(
      () => skeletonBackend.launch({ bundleSource: '', start: {} as never, memoryMiB: 16 }),
      /does not implement launch/,
    );
  });
});

describe('tdx backend', () => {
  it('extends RTMR3 with each launched enclave; the log replays to the register', async () => {
    const vm = fakeVm('tdx_guest', tdxWithReportData);
    const backend = tdxBackend({ tsmRoot: vm.tsmRoot, measurementsDir: vm.measurementsDir, fs: vm.fs });
    await backend.measure(MRENCLAVE);
    await backend.measure(new Uint8Array(32).fill(1));
    const rtmr3 = new Uint8Array(readFileSync(join(vm.measurementsDir, 'rtmr3:sha384')));
    assert.deepEqual(backend.rtmrEvents, [
      rtmrEventDigest(MRENCLAVE),
      rtmrEventDigest(new Uint8Array(32).fill(1)),
    ]);
    assert.deepEqual(rtmr3, rtmrReplay(backend.rtmrEvents));
    assert.deepEqual(
      new Uint8Array(readFileSync(join(vm.measurementsDir, 'rtmr2:sha384'))),
      new Uint8Array(48),
    );
  });

  it('refuses to launch when the RTMR is missing, malformed or does not extend', async () => {
    const vm = fakeVm('tdx_guest', tdxWithReportData);
    const backend = (dir = vm.measurementsDir) =>
      tdxBackend({ tsmRoot: vm.tsmRoot, measurementsDir: dir, fs: vm.fs });
    await assert.rejects(
      backend(join(vm.measurementsDir, 'none')).measure(MRENCLAVE),
      (e: unknown) => e instanceof RtmrError && e.code === 'no-rtmr',
    );
    vm.ignoreRtmrWrites = true;
    await assert.rejects(
      backend().measure(MRENCLAVE),
      (e: unknown) => e instanceof RtmrError && e.code === 'rtmr-raced',
    );
    vm.ignoreRtmrWrites = false;
    writeFileSync(join(vm.measurementsDir, 'rtmr3:sha384'), new Uint8Array(47));
    await assert.rejects(
      backend().measure(MRENCLAVE),
      (e: unknown) => e instanceof RtmrError && e.code === 'bad-rtmr',
    );
  });

  it('refuses to launch outside a TDX guest, before touching any RTMR', async () => {
    const snpVm = fakeVm('sev_guest', () => SNP_REPORT);
    await assert.rejects(
      tdxBackend({ tsmRoot: snpVm.tsmRoot, measurementsDir: snpVm.measurementsDir, fs: snpVm.fs }).measure(
        MRENCLAVE,
      ),
      (e: unknown) => e instanceof TsmError && e.code === 'unknown-provider',
    );
    assert.deepEqual(
      new Uint8Array(readFileSync(join(snpVm.measurementsDir, 'rtmr3:sha384'))),
      new Uint8Array(48),
    );
    await assert.rejects(
      tdxBackend({ tsmRoot: join(snpVm.tsmRoot, 'none'), fs: snpVm.fs }).measure(MRENCLAVE),
      (e: unknown) => e instanceof TsmError && e.code === 'no-tsm',
    );
    assert.equal(readdirSync(join(snpVm.tsmRoot, 'tsm', 'report')).length, 0);
  });

  it("quotes bind MRENCLAVE and the enclave's report data; the kernel sees only the binding", async () => {
    const vm = fakeVm('tdx_guest', tdxWithReportData);
    const backend = tdxBackend({ tsmRoot: vm.tsmRoot, measurementsDir: vm.measurementsDir, fs: vm.fs });
    const platform = await backend.openPlatform({ mrenclave: MRENCLAVE });
    const quote = await quoteOf(platform);
    assert.deepEqual(vm.inblobs, [cvmReportData(MRENCLAVE, REPORT_DATA)]);
    const parsed = parseQuote(quote);
    assert.equal(parsed.kind, 'tdx');
    assert.ok(isCvmBinding(parsed.body.reportData, MRENCLAVE, REPORT_DATA));
    assert.equal(isCvmBinding(parsed.body.reportData, new Uint8Array(32), REPORT_DATA), false);
    // The report data was changed after signing, so the verifier must refuse this quote.
    await assert.rejects(
      verifyTdxEnclaveEvidence(
        quote,
        { collateral: TDX_COLLATERAL, at: DCAP_AT },
        { mrenclave: MRENCLAVE, reportData: REPORT_DATA },
      ),
      (e: unknown) => e instanceof VerificationError && e.code === 'quote-signature',
    );
    platform.close();
  });

  it('refuses a REPORT not made by this platform for its quote service', async () => {
    const vm = fakeVm('tdx_guest', tdxWithReportData);
    const backend = tdxBackend({ tsmRoot: vm.tsmRoot, fs: vm.fs });
    const platform = await backend.openPlatform({ mrenclave: MRENCLAVE });
    const other = await backend.openPlatform({ mrenclave: MRENCLAVE });
    const forged = platform.localReport(platform.quoteTarget(), REPORT_DATA);
    forged[64] ^= 1; // another MRENCLAVE
    await assert.rejects(
      Promise.resolve().then(() => platform.quote(forged)),
      CvmQuoteError,
    );
    const selfTargeted = platform.localReport(new Uint8Array(512), REPORT_DATA);
    await assert.rejects(
      Promise.resolve().then(() => platform.quote(selfTargeted)),
      CvmQuoteError,
    );
    await assert.rejects(
      Promise.resolve().then(() => other.quote(platform.localReport(platform.quoteTarget(), REPORT_DATA))),
      CvmQuoteError,
    );
    await assert.rejects(
      Promise.resolve().then(() => platform.quote(new Uint8Array(431))),
      CvmQuoteError,
    );
    assert.equal(vm.inblobs.length, 0);
  });

  it('has no seal key, and says so', async () => {
    const platform = await tdxBackend().openPlatform({ mrenclave: MRENCLAVE });
    assert.throws(() => platform.sealKey('MRENCLAVE'), /tdx backend has no seal key.*key broker/);
  });

  it('refuses hostile kernels: wrong report data, another provider, truncated, oversized, a moving generation', async () => {
    const cases: [string, string, (inblob: Uint8Array) => Uint8Array, (e: unknown) => boolean][] = [
      // The real quote, untouched: its report data is not our binding.
      [
        'tdx_guest',
        'stale',
        () => TDX_QUOTE,
        (e) => e instanceof TsmError && e.code === 'report-data-mismatch',
      ],
      ['sev_guest', 'snp', () => SNP_REPORT, (e) => e instanceof TsmError && e.code === 'unknown-provider'],
      [
        'tdx_guest',
        'truncated',
        (d) => tdxWithReportData(d).subarray(0, 700),
        (e) => e instanceof Error && e.name === 'FormatError',
      ],
      ['tdx_guest', 'empty', () => new Uint8Array(0), (e) => e instanceof Error && e.name === 'FormatError'],
      [
        'tdx_guest',
        'oversized',
        (d) => {
          const big = new Uint8Array(TSM_BLOB_MAX + 4096);
          big.set(tdxWithReportData(d));
          return big;
        },
        (e) => e instanceof TsmError && e.code === 'blob-too-large',
      ],
    ];
    for (const [provider, what, generate, check] of cases) {
      const vm = fakeVm(provider, generate);
      const platform = await tdxBackend({ tsmRoot: vm.tsmRoot, fs: vm.fs }).openPlatform({
        mrenclave: MRENCLAVE,
      });
      await assert.rejects(quoteOf(platform), check, what);
    }
    const racing = fakeVm('tdx_guest', tdxWithReportData);
    racing.intruders = 3;
    const platform = await tdxBackend({ tsmRoot: racing.tsmRoot, fs: racing.fs }).openPlatform({
      mrenclave: MRENCLAVE,
    });
    await assert.rejects(
      quoteOf(platform),
      (e: unknown) => e instanceof TsmError && e.code === 'generation-changed',
    );
    racing.intruders = 1;
    assert.equal(parseQuote(await quoteOf(platform)).kind, 'tdx');
  });

  it('the verifier checks the real quote under Intel root, then refuses a binding it does not carry', async () => {
    const expected = { mrenclave: MRENCLAVE, reportData: REPORT_DATA };
    // report-data-mismatch comes after every DCAP check passed.
    await assert.rejects(
      verifyTdxEnclaveEvidence(TDX_QUOTE, { collateral: TDX_COLLATERAL, at: DCAP_AT }, expected),
      (e: unknown) => e instanceof VerificationError && e.code === 'report-data-mismatch',
    );
    await assert.rejects(
      verifyTdxEnclaveEvidence(
        TDX_QUOTE,
        { collateral: TDX_COLLATERAL, at: new Date('2025-08-01T00:00:00Z') },
        expected,
      ),
      (e: unknown) => e instanceof VerificationError && /expired/.test(e.code),
    );
  });
});

describe('snp backend', () => {
  it('a report the VM "generates" for the binding verifies under its ARK, and only there', async () => {
    let pki: Awaited<ReturnType<typeof makeSnpPki>> | undefined;
    const vm = fakeVm('sev_guest', async (inblob) => {
      pki = await makeSnpPki({ reportData: inblob });
      return pki.report;
    });
    const backend = snpBackend({ tsmRoot: vm.tsmRoot, fs: vm.fs });
    await backend.measure(MRENCLAVE); // nothing to extend
    const platform = await backend.openPlatform({ mrenclave: MRENCLAVE });
    const report = await quoteOf(platform);
    assert.ok(pki);
    const options = { vcek: pki.vcek, caChainPem: pki.askPem, trustedArk: pki.arkPem, at: SNP_AT };
    const verdict = await verifySnpEnclaveEvidence(report, options, {
      mrenclave: MRENCLAVE,
      reportData: REPORT_DATA,
    });
    assert.equal(verdict.kind, 'snp');
    // Another enclave, other report data, or AMD's real ARK (the default): refused.
    await assert.rejects(
      verifySnpEnclaveEvidence(report, options, { mrenclave: new Uint8Array(32), reportData: REPORT_DATA }),
      (e: unknown) => e instanceof VerificationError && e.code === 'report-data-mismatch',
    );
    await assert.rejects(
      verifySnpEnclaveEvidence(report, options, { mrenclave: MRENCLAVE, reportData: new Uint8Array(64) }),
      (e: unknown) => e instanceof VerificationError && e.code === 'report-data-mismatch',
    );
    await assert.rejects(
      verifySnpEnclaveEvidence(
        report,
        { vcek: pki.vcek, caChainPem: pki.askPem, at: SNP_AT },
        { mrenclave: MRENCLAVE, reportData: REPORT_DATA },
      ),
      VerificationError,
    );
    assert.throws(() => platform.sealKey('MRSIGNER'), /snp backend has no seal key/);
  });

  it('a debug guest is refused unless allowed', async () => {
    const binding = cvmReportData(MRENCLAVE, REPORT_DATA);
    const pki = await makeSnpPki({ reportData: binding, policy: 0x30000n | (1n << 19n) });
    const options = { vcek: pki.vcek, caChainPem: pki.askPem, trustedArk: pki.arkPem, at: SNP_AT };
    await assert.rejects(
      verifySnpEnclaveEvidence(pki.report, options, { mrenclave: MRENCLAVE, reportData: REPORT_DATA }),
      (e: unknown) => e instanceof VerificationError && e.code === 'debug-enclave',
    );
    const allowed = await verifySnpEnclaveEvidence(pki.report, options, {
      mrenclave: MRENCLAVE,
      reportData: REPORT_DATA,
      allowDebug: true,
    });
    assert.equal(allowed.kind, 'snp');
  });

  it('refuses to launch outside an SNP guest', async () => {
    const tdx = fakeVm('tdx_guest', tdxWithReportData);
    await assert.rejects(
      snpBackend({ tsmRoot: tdx.tsmRoot, fs: tdx.fs }).measure(MRENCLAVE),
      (e: unknown) => e instanceof TsmError && e.code === 'unknown-provider',
    );
    await assert.rejects(
      snpBackend({ tsmRoot: join(tdx.tsmRoot, 'none'), fs: tdx.fs }).measure(MRENCLAVE),
      (e: unknown) => e instanceof TsmError && e.code === 'no-tsm',
    );
  });

  it('refuses a TDX kernel and the real report carrying other report data', async () => {
    const tdx = fakeVm('tdx_guest', tdxWithReportData);
    const onTdx = await snpBackend({ tsmRoot: tdx.tsmRoot, fs: tdx.fs }).openPlatform({
      mrenclave: MRENCLAVE,
    });
    await assert.rejects(
      quoteOf(onTdx),
      (e: unknown) => e instanceof TsmError && e.code === 'unknown-provider',
    );
    const stale = fakeVm('sev_guest', () => SNP_REPORT);
    const onStale = await snpBackend({ tsmRoot: stale.tsmRoot, fs: stale.fs }).openPlatform({
      mrenclave: MRENCLAVE,
    });
    await assert.rejects(
      quoteOf(onStale),
      (e: unknown) => e instanceof TsmError && e.code === 'report-data-mismatch',
    );
  });
});
