// configfs-tsm against a fake tree (helpers/fake-tsm.ts: a temporary directory whose file operations
// behave as the tsm report attributes do); each inblob write produces `outblob`, here a real TDX
// quote or SNP report.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseQuote } from '../../src/attestation/quote.ts';
import { parseSnpReport } from '../../src/attestation/snp-report.ts';
import { TsmError, tsmReport } from '../../src/tee/tsm.ts';
import { tempDir } from '../helpers/temp.ts';
import { VECTORS } from '../attestation/helpers/vectors.ts';
import { fakeVm } from './helpers/fake-tsm.ts';
import type { FakeVm } from './helpers/fake-tsm.ts';

const TDX_QUOTE = new Uint8Array(readFileSync(new URL('dcap-qvl/tdx_quote', VECTORS)));
const SNP_REPORT = new Uint8Array(readFileSync(new URL('go-sev-guest/attestation.bin', VECTORS)));
const TDX_DATA = Uint8Array.from(parseQuote(TDX_QUOTE).body.reportData);
const SNP_DATA = Uint8Array.from(parseSnpReport(SNP_REPORT).reportData);

/** A fake configfs whose `provider` answers every inblob with `outblob` (the vector), plus `auxblob`. */
const fakeTsm = (provider: string, outblob: Uint8Array, auxblob?: Uint8Array): FakeVm =>
  fakeVm(provider, () => outblob, auxblob);
const entries = (f: FakeVm): string[] => readdirSync(join(f.tsmRoot, 'tsm', 'report'));
const code = (c: string) => (e: unknown) => e instanceof TsmError && e.code === c;

describe('configfs-tsm', () => {
  it('gets a TDX quote v4 binding the report data, and removes its entry', async () => {
    const f = fakeTsm('tdx_guest', TDX_QUOTE);
    const r = await tsmReport({ reportData: TDX_DATA, root: f.tsmRoot, fs: f.fs });
    assert.equal(r.provider, 'tdx_guest');
    assert.equal(r.generation, 1);
    assert.equal(r.evidence.kind, 'tdx');
    assert.deepEqual(r.outblob, TDX_QUOTE);
    assert.equal(r.auxblob, undefined);
    assert.deepEqual(entries(f), []);
  });

  it('gets an SNP report with its auxblob', async () => {
    const aux = new Uint8Array(100).fill(3);
    const f = fakeTsm('sev_guest', SNP_REPORT, aux);
    const r = await tsmReport({ reportData: SNP_DATA, root: f.tsmRoot, fs: f.fs, name: 'mine' });
    assert.equal(r.evidence.kind, 'snp');
    assert.deepEqual(r.auxblob, aux);
    assert.deepEqual(entries(f), []);
  });

  it('retries when another writer bumps the generation, and gives up after the attempts', async () => {
    const f = fakeTsm('tdx_guest', TDX_QUOTE);
    f.intruders = 2;
    const r = await tsmReport({ reportData: TDX_DATA, root: f.tsmRoot, fs: f.fs, attempts: 3 });
    assert.equal(r.evidence.kind, 'tdx');
    assert.equal(f.intruders, 0);
    f.intruders = 5;
    await assert.rejects(
      tsmReport({ reportData: TDX_DATA, root: f.tsmRoot, fs: f.fs, attempts: 3 }),
      code('generation-changed'),
    );
    assert.deepEqual(entries(f), []);
  });

  it('refuses evidence that does not carry our report data', async () => {
    const f = fakeTsm('tdx_guest', TDX_QUOTE);
    await assert.rejects(
      tsmReport({ reportData: new Uint8Array(64), root: f.tsmRoot, fs: f.fs }),
      code('report-data-mismatch'),
    );
    assert.deepEqual(entries(f), []);
    const g = fakeTsm('sev_guest', SNP_REPORT);
    await assert.rejects(
      tsmReport({ reportData: new Uint8Array(64), root: g.tsmRoot, fs: g.fs }),
      code('report-data-mismatch'),
    );
  });

  it('refuses unknown providers and malformed outblobs, and reports a missing configfs-tsm', async () => {
    const f = fakeTsm('arm_cca_guest', TDX_QUOTE);
    await assert.rejects(
      tsmReport({ reportData: TDX_DATA, root: f.tsmRoot, fs: f.fs }),
      code('unknown-provider'),
    );
    const g = fakeTsm('tdx_guest', TDX_QUOTE.subarray(0, 1000));
    await assert.rejects(tsmReport({ reportData: TDX_DATA, root: g.tsmRoot, fs: g.fs }), {
      name: 'FormatError',
    });
    const empty = tempDir('cloister-tsm-');
    await assert.rejects(tsmReport({ reportData: TDX_DATA, root: empty }), code('no-tsm'));
    assert.equal(existsSync(join(empty, 'tsm')), false);
    await assert.rejects(tsmReport({ reportData: new Uint8Array(32), root: empty }), RangeError);
  });
});
