import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError, fromHex } from '../../src/attestation/bytes.ts';
import { parseCollateral, parseQeIdentity, parseTcbInfo } from '../../src/attestation/collateral.ts';
import type { Collateral } from '../../src/attestation/collateral.ts';
import { derChildren, derOid, derUint, parseDer } from '../../src/attestation/der.ts';
import { VerificationError } from '../../src/attestation/errors.ts';
import { parsePckExtension } from '../../src/attestation/pck-extension.ts';
import { parseQuote } from '../../src/attestation/quote.ts';
import type { TdReportBody } from '../../src/attestation/report-body.ts';
import { convergeTcb, matchPlatformTcb, matchTdxModule } from '../../src/attestation/tcb.ts';
import { sgxExtension } from './helpers/dcap-pki.ts';
import { VECTORS } from './helpers/vectors.ts';

const DCAP = new URL('dcap-qvl/', VECTORS);
const tdxColl = JSON.parse(readFileSync(new URL('tdx_quote_collateral.json', DCAP), 'utf8')) as Collateral;
const sgxColl = JSON.parse(readFileSync(new URL('sgx_quote_collateral.json', DCAP), 'utf8')) as Collateral;
const tdxBody = parseQuote(new Uint8Array(readFileSync(new URL('tdx_quote', DCAP)))).body as TdReportBody;

const badCollateral = (f: () => unknown): void =>
  assert.throws(f, (e: unknown) => e instanceof FormatError && e.code === 'bad-collateral');

test('TCB info and QE identity of the vectors parse', () => {
  const sgx = parseTcbInfo(sgxColl.tcb_info);
  assert.equal(sgx.id, 'SGX');
  assert.equal(sgx.tcbLevels.length, 11);
  assert.equal(sgx.nextUpdate.toISOString(), '2025-07-19T10:56:11.000Z');
  const tdx = parseTcbInfo(tdxColl.tcb_info);
  assert.equal(tdx.tdxModuleIdentities?.map((m) => m.id).join(), 'TDX_03,TDX_01');
  assert.equal(tdx.tcbLevels[0].tdxComponents?.length, 16);
  const qe = parseQeIdentity(tdxColl.qe_identity);
  assert.equal(qe.id, 'TD_QE');
  assert.equal(qe.isvprodid, 2);
});

test('TCB info v2 (per-component fields, no id) parses as SGX', () => {
  const tcb: Record<string, number> = { pcesvn: 7 };
  for (let i = 1; i <= 16; i++) tcb[`sgxtcbcomp${String(i).padStart(2, '0')}svn`] = i;
  const info = parseTcbInfo(
    JSON.stringify({
      version: 2,
      issueDate: '2020-01-01T00:00:00Z',
      nextUpdate: '2020-02-01T00:00:00Z',
      fmspc: '00906ED50000',
      pceId: '0000',
      tcbType: 0,
      tcbEvaluationDataNumber: 5,
      tcbLevels: [{ tcb, tcbDate: '2019-11-13T00:00:00Z', tcbStatus: 'UpToDate' }],
    }),
  );
  assert.equal(info.id, 'SGX');
  assert.deepEqual(
    info.tcbLevels[0].sgxComponents,
    Array.from({ length: 16 }, (_, i) => i + 1),
  );
  assert.equal(info.tcbLevels[0].pceSvn, 7);
});

test('hostile collateral JSON is a bad-collateral error', () => {
  const info = JSON.parse(sgxColl.tcb_info) as Record<string, unknown>;
  const variant = (patch: Record<string, unknown>): string => JSON.stringify({ ...info, ...patch });
  badCollateral(() => parseTcbInfo('{'));
  badCollateral(() => parseTcbInfo('[]'));
  badCollateral(() => parseTcbInfo(variant({ version: 9 })));
  badCollateral(() => parseTcbInfo(variant({ id: 'XYZ' })));
  badCollateral(() => parseTcbInfo(variant({ fmspc: 'zz' })));
  badCollateral(() => parseTcbInfo(variant({ nextUpdate: 'tomorrow' })));
  badCollateral(() => parseTcbInfo(variant({ tcbLevels: [] })));
  badCollateral(() => parseTcbInfo(variant({ tcbLevels: [{ tcb: {}, tcbStatus: 'UpToDate' }] })));
  badCollateral(() =>
    parseTcbInfo(variant({ tcbLevels: [{ ...(info.tcbLevels as object[])[0], tcbStatus: '' }] })),
  );
  badCollateral(() =>
    parseTcbInfo(variant({ tcbLevels: [{ ...(info.tcbLevels as object[])[0], tcbStatus: 7 }] })),
  );
  const qe = JSON.parse(sgxColl.qe_identity) as Record<string, unknown>;
  badCollateral(() => parseQeIdentity(JSON.stringify({ ...qe, mrsigner: 'abc' })));
  badCollateral(() => parseQeIdentity(JSON.stringify({ ...qe, isvprodid: -1 })));
  badCollateral(() => parseQeIdentity(JSON.stringify({ ...qe, tcbLevels: [{ tcb: { isvsvn: 'x' } }] })));
  badCollateral(() => parseCollateral(null));
  badCollateral(() => parseCollateral({ ...sgxColl, tcb_info: 5 }));
});

test('TDX: TEE_TCB_SVN bytes 0-1 are judged by the module identity when the module version is set', () => {
  const info = parseTcbInfo(tdxColl.tcb_info);
  assert.deepEqual(matchTdxModule(info, tdxBody), { status: 'UpToDate', advisoryIds: [] });
  const pck = { cpuSvnComponents: Array(16).fill(255), pceSvn: 255 } as Parameters<
    typeof matchPlatformTcb
  >[1];
  // Module SVN 0 (below every level) still matches a platform level: bytes 0-1 are skipped there.
  const svn = Uint8Array.from(tdxBody.teeTcbSvn);
  svn[0] = 0;
  assert.equal(matchPlatformTcb(info, pck, svn).tcbStatus, 'UpToDate');
  assert.throws(
    () => matchTdxModule(info, { ...tdxBody, teeTcbSvn: svn }),
    (e: unknown) => e instanceof VerificationError && e.code === 'tcb-level-not-found',
  );
  // TDX_01 level 2 is OutOfDate.
  svn[0] = 3;
  assert.equal(matchTdxModule(info, { ...tdxBody, teeTcbSvn: svn })?.status, 'OutOfDate');
  // An unknown module version, a wrong MRSIGNERSEAM.
  svn[1] = 2;
  assert.throws(
    () => matchTdxModule(info, { ...tdxBody, teeTcbSvn: svn }),
    /no identity for TDX module version 2/,
  );
  const signer = new Uint8Array(48).fill(1);
  assert.throws(() => matchTdxModule(info, { ...tdxBody, mrSignerSeam: signer }), /MRSIGNERSEAM/);
  // Version 0: the default module identity, all 16 bytes compared against the levels.
  const v0 = new Uint8Array(16);
  assert.equal(matchTdxModule(info, { ...tdxBody, teeTcbSvn: v0 }), undefined);
  assert.throws(() => matchPlatformTcb(info, pck, v0), /no TCB level/);
});

test('status convergence', () => {
  const v = (status: Parameters<typeof convergeTcb>[0]['status'], advisoryIds: string[] = []) => ({
    status,
    advisoryIds,
  });
  assert.equal(convergeTcb(v('UpToDate'), v('OutOfDate')).status, 'OutOfDate');
  assert.equal(convergeTcb(v('SWHardeningNeeded'), v('OutOfDate')).status, 'OutOfDate');
  assert.equal(
    convergeTcb(v('ConfigurationAndSWHardeningNeeded'), v('OutOfDate')).status,
    'OutOfDateConfigurationNeeded',
  );
  assert.equal(convergeTcb(v('ConfigurationNeeded'), v('UpToDate')).status, 'ConfigurationNeeded');
  assert.equal(convergeTcb(v('UpToDate'), v('Revoked')).status, 'Revoked');
  assert.deepEqual(convergeTcb(v('UpToDate', ['A', 'B']), v('UpToDate', ['B', 'C'])).advisoryIds, [
    'A',
    'B',
    'C',
  ]);
});

test('SGX extension: round trip and hostile DER', () => {
  const ext = sgxExtension({
    fmspc: '00a067110000',
    cpuSvn: [11, 11, 2, 2, 255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    pceSvn: 13,
  });
  const p = parsePckExtension(ext);
  assert.deepEqual(p.fmspc, fromHex('00a067110000'));
  assert.equal(p.cpuSvnComponents[4], 255);
  assert.equal(p.pceSvn, 13);
  for (let n = 0; n < ext.length; n++)
    assert.throws(() => parsePckExtension(ext.subarray(0, n)), FormatError);
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    const copy = Uint8Array.from(ext);
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    copy[seed % copy.length] ^= 1 << (seed % 8);
    try {
      parsePckExtension(copy);
    } catch (e) {
      assert.ok(e instanceof FormatError, String(e));
    }
  }
  assert.equal(
    derOid(Uint8Array.from([0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01])),
    '1.2.840.113741.1.13.1',
  );
  assert.throws(() => derOid(Uint8Array.from([0x2a, 0x86])), /truncated OID/);
  assert.throws(() => derUint(Uint8Array.from([0x80])), /out of range/);
  assert.throws(() => parseDer(Uint8Array.from([0x30, 0x85, 1, 1, 1, 1, 1])), /bad length/);
  assert.throws(() => derChildren(Uint8Array.from([0x02, 0x05, 0x01])), /exceeds/);
});
