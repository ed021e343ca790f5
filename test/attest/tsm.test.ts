// configfs-tsm against a fake tree: a temporary directory whose "kernel" (the file operations passed
// in) behaves as the tsm report attributes do: mkdir makes the entry with `provider` and `generation`,
// each inblob write bumps `generation` and produces `outblob` — here a real TDX quote or SNP report.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { parseQuote } from '../../src/attestation/quote.ts';
import { parseSnpReport } from '../../src/attestation/snp-report.ts';
import { TsmError, nodeTsmFs, tsmReport } from '../../src/tee/tsm.ts';
import type { TsmFs } from '../../src/tee/tsm.ts';
import { tempDir } from '../helpers/temp.ts';
import { VECTORS } from '../attestation/helpers/vectors.ts';

const TDX_QUOTE = new Uint8Array(readFileSync(new URL('dcap-qvl/tdx_quote', VECTORS)));
const SNP_REPORT = new Uint8Array(readFileSync(new URL('go-sev-guest/attestation.bin', VECTORS)));
const TDX_DATA = Uint8Array.from(parseQuote(TDX_QUOTE).body.reportData);
const SNP_DATA = Uint8Array.from(parseSnpReport(SNP_REPORT).reportData);

interface Fake {
  root: string;
  fs: TsmFs;
  /** Writes by "another process" to do when outblob is read, one per read. */
  intruders: number;
}

/** A fake configfs: `provider` answers every inblob with `outblob` (the vector), plus `auxblob` for SNP. */
function fakeTsm(provider: string, outblob: Uint8Array, auxblob?: Uint8Array): Fake {
  const root = tempDir('cloister-tsm-');
  mkdirSync(join(root, 'tsm', 'report'), { recursive: true });
  const generation = (dir: string): number => Number(readFileSync(join(dir, 'generation'), 'utf8'));
  const bump = (dir: string): void => writeFileSync(join(dir, 'generation'), `${generation(dir) + 1}\n`);
  const fake: Fake = {
    root,
    intruders: 0,
    fs: {
      ...nodeTsmFs,
      async mkdir(path) {
        await nodeTsmFs.mkdir(path);
        writeFileSync(join(path, 'provider'), `${provider}\n`);
        writeFileSync(join(path, 'generation'), '0\n');
      },
      async rmdir(path) {
        // configfs removes an entry with its attribute files.
        for (const f of readdirSync(path)) unlinkSync(join(path, f));
        await nodeTsmFs.rmdir(path);
      },
      async writeFile(path, data) {
        await nodeTsmFs.writeFile(path, data);
        if (basename(path) === 'inblob') {
          bump(dirname(path));
          writeFileSync(join(dirname(path), 'outblob'), outblob);
          if (auxblob) writeFileSync(join(dirname(path), 'auxblob'), auxblob);
        }
      },
      async readFile(path) {
        if (basename(path) === 'outblob' && fake.intruders > 0) {
          fake.intruders--;
          bump(dirname(path));
        }
        return nodeTsmFs.readFile(path);
      },
    },
  };
  return fake;
}

const entries = (f: Fake): string[] => readdirSync(join(f.root, 'tsm', 'report'));
const code = (c: string) => (e: unknown) => e instanceof TsmError && e.code === c;

describe('configfs-tsm', () => {
  it('gets a TDX quote v4 binding the report data, and removes its entry', async () => {
    const f = fakeTsm('tdx_guest', TDX_QUOTE);
    const r = await tsmReport({ reportData: TDX_DATA, root: f.root, fs: f.fs });
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
    const r = await tsmReport({ reportData: SNP_DATA, root: f.root, fs: f.fs, name: 'mine' });
    assert.equal(r.evidence.kind, 'snp');
    assert.deepEqual(r.auxblob, aux);
    assert.deepEqual(entries(f), []);
  });

  it('retries when another writer bumps the generation, and gives up after the attempts', async () => {
    const f = fakeTsm('tdx_guest', TDX_QUOTE);
    f.intruders = 2;
    const r = await tsmReport({ reportData: TDX_DATA, root: f.root, fs: f.fs, attempts: 3 });
    assert.equal(r.evidence.kind, 'tdx');
    assert.equal(f.intruders, 0);
    f.intruders = 5;
    await assert.rejects(
      tsmReport({ reportData: TDX_DATA, root: f.root, fs: f.fs, attempts: 3 }),
      code('generation-changed'),
    );
    assert.deepEqual(entries(f), []);
  });

  it('refuses evidence that does not carry our report data', async () => {
    const f = fakeTsm('tdx_guest', TDX_QUOTE);
    await assert.rejects(
      tsmReport({ reportData: new Uint8Array(64), root: f.root, fs: f.fs }),
      code('report-data-mismatch'),
    );
    assert.deepEqual(entries(f), []);
    const g = fakeTsm('sev_guest', SNP_REPORT);
    await assert.rejects(
      tsmReport({ reportData: new Uint8Array(64), root: g.root, fs: g.fs }),
      code('report-data-mismatch'),
    );
  });

  it('refuses unknown providers and malformed outblobs, and reports a missing configfs-tsm', async () => {
    const f = fakeTsm('arm_cca_guest', TDX_QUOTE);
    await assert.rejects(
      tsmReport({ reportData: TDX_DATA, root: f.root, fs: f.fs }),
      code('unknown-provider'),
    );
    const g = fakeTsm('tdx_guest', TDX_QUOTE.subarray(0, 1000));
    await assert.rejects(tsmReport({ reportData: TDX_DATA, root: g.root, fs: g.fs }), {
      name: 'FormatError',
    });
    const empty = tempDir('cloister-tsm-');
    await assert.rejects(tsmReport({ reportData: TDX_DATA, root: empty }), code('no-tsm'));
    assert.equal(existsSync(join(empty, 'tsm')), false);
    await assert.rejects(tsmReport({ reportData: new Uint8Array(32), root: empty }), RangeError);
  });
});
