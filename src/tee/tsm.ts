/**
 * TDX and SEV-SNP evidence through Linux configfs-tsm (`<root>/tsm/report/<name>/`): make an entry,
 * write the 64-byte report data to `inblob`, read `outblob` (a TDX quote v4 or an SNP report), `auxblob`
 * (SNP certificates, if any) and `provider`, then remove the entry. `generation` counts writes to the
 * entry; if it moved other than by our own write, another process wrote in between and we retry.
 * The root path is a parameter so tests can run against a fake tree.
 */
import { mkdir, open, rmdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { bytesEqual, toHex } from '../attestation/bytes.ts';
import { parseQuote } from '../attestation/quote.ts';
import type { TdxQuote } from '../attestation/quote.ts';
import { parseSnpReport } from '../attestation/snp-report.ts';
import type { SnpReport } from '../attestation/snp-report.ts';

/** The file operations used on the configfs tree (node:fs/promises by default). */
export interface TsmFs {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
}

/** The real file system. */
export const nodeTsmFs: TsmFs = {
  mkdir: async (path) => {
    await mkdir(path);
  },
  rmdir: (path) => rmdir(path),
  readFile: (path) => readBounded(path),
  writeFile: (path, data) => writeFile(path, data),
};

/** Reads at most one byte more than `TSM_BLOB_MAX`, so an endless or huge file costs no more than that. */
async function readBounded(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(TSM_BLOB_MAX + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return new Uint8Array(buffer.subarray(0, length));
  } finally {
    await handle.close();
  }
}

export interface TsmReportOptions {
  /** The 64 bytes to bind into the evidence. */
  reportData: Uint8Array;
  /** configfs mount point (default `/sys/kernel/config`). */
  root?: string;
  /** Entry name (default a random one). */
  name?: string;
  /** Attempts when another writer is detected (default 3). */
  attempts?: number;
  /** The provider the caller's backend needs (`tdx_guest`, `sev_guest`); any supported one when absent. */
  provider?: TsmProvider;
  fs?: TsmFs;
}

export type TsmProvider = 'tdx_guest' | 'sev_guest';

/**
 * Largest outblob and auxblob read. The kernel caps an outblob at 32 KiB (TSM_OUTBLOB_MAX); a TDX quote
 * is about 5 KiB, an SNP report 1184 bytes. Anything larger is not what the kernel gives.
 */
export const TSM_BLOB_MAX = 32 * 1024;

/** The evidence, checked to carry our report data. */
export type TsmEvidence = { kind: 'tdx'; quote: TdxQuote } | { kind: 'snp'; report: SnpReport };

export interface TsmReport {
  provider: string;
  outblob: Uint8Array;
  auxblob?: Uint8Array;
  generation: number;
  evidence: TsmEvidence;
}

/** Evidence could not be obtained; `code` says why. */
export class TsmError extends Error {
  override name = 'TsmError';
  constructor(
    readonly code:
      'no-tsm' | 'generation-changed' | 'unknown-provider' | 'report-data-mismatch' | 'blob-too-large',
    message: string,
  ) {
    super(message);
  }
}

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

async function readGeneration(fs: TsmFs, dir: string): Promise<number> {
  const text = new TextDecoder().decode(await fs.readFile(join(dir, 'generation'))).trim();
  if (!/^\d+$/.test(text)) throw new TsmError('no-tsm', `${dir}/generation: not a number`);
  return Number(text);
}

async function optionalFile(fs: TsmFs, path: string): Promise<Uint8Array | undefined> {
  try {
    const data = await fs.readFile(path);
    return data.length > 0 ? data : undefined;
  } catch (e) {
    // auxblob exists only for providers that have certificates to give.
    if (errno(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** `data` unless it is larger than the kernel ever makes a blob. */
function bounded(data: Uint8Array, what: string): Uint8Array {
  if (data.length > TSM_BLOB_MAX)
    throw new TsmError(
      'blob-too-large',
      `configfs-tsm ${what} is ${data.length} bytes, over ${TSM_BLOB_MAX}`,
    );
  return data;
}

/** Parses the outblob by provider and checks that it binds `reportData`. */
function evidenceOf(provider: string, outblob: Uint8Array, reportData: Uint8Array): TsmEvidence {
  let evidence: TsmEvidence;
  if (provider === 'tdx_guest') {
    const quote = parseQuote(outblob);
    if (quote.kind !== 'tdx') throw new TsmError('unknown-provider', 'tdx_guest returned an SGX quote');
    evidence = { kind: 'tdx', quote };
  } else if (provider === 'sev_guest') {
    evidence = { kind: 'snp', report: parseSnpReport(outblob) };
  } else {
    throw new TsmError(
      'unknown-provider',
      `configfs-tsm provider ${JSON.stringify(provider)} is not supported`,
    );
  }
  const bound = evidence.kind === 'tdx' ? evidence.quote.body.reportData : evidence.report.reportData;
  if (!bytesEqual(bound, reportData)) {
    throw new TsmError(
      'report-data-mismatch',
      `${provider} evidence carries report data ${toHex(bound).slice(0, 16)}…, not ours`,
    );
  }
  return evidence;
}

/** One attempt; undefined when another writer changed the entry meanwhile. */
async function attempt(
  fs: TsmFs,
  dir: string,
  reportData: Uint8Array,
  expected: TsmProvider | undefined,
): Promise<TsmReport | undefined> {
  const before = await readGeneration(fs, dir);
  await fs.writeFile(join(dir, 'inblob'), reportData);
  const written = await readGeneration(fs, dir);
  const outblob = bounded(await fs.readFile(join(dir, 'outblob')), 'outblob');
  const auxblob = await optionalFile(fs, join(dir, 'auxblob'));
  if (auxblob !== undefined) bounded(auxblob, 'auxblob');
  const provider = new TextDecoder().decode(await fs.readFile(join(dir, 'provider'))).trim();
  const after = await readGeneration(fs, dir);
  if (written !== before + 1 || after !== written) return undefined;
  if (expected !== undefined && provider !== expected) {
    throw new TsmError(
      'unknown-provider',
      `configfs-tsm provider is ${JSON.stringify(provider)}, this backend needs ${expected}`,
    );
  }
  return {
    provider,
    outblob,
    auxblob,
    generation: after,
    evidence: evidenceOf(provider, outblob, reportData),
  };
}

/**
 * Checks, without asking for evidence, that configfs-tsm is there and served by `provider`: an entry
 * is made, its `provider` read and the entry removed. A backend calls it before launching, so that an
 * enclave never runs on a machine that could not attest it.
 */
export async function tsmProbe(options: { provider: TsmProvider; root?: string; fs?: TsmFs }): Promise<void> {
  const fs = options.fs ?? nodeTsmFs;
  const base = join(options.root ?? '/sys/kernel/config', 'tsm', 'report');
  const dir = join(base, `cloister-probe-${process.pid}-${toHex(randomBytes(6))}`);
  try {
    await fs.mkdir(dir);
  } catch (e) {
    if (errno(e) === 'ENOENT')
      throw new TsmError(
        'no-tsm',
        `configfs-tsm is not available (${base} is missing): not a confidential VM`,
      );
    throw e;
  }
  try {
    const provider = new TextDecoder().decode(await fs.readFile(join(dir, 'provider'))).trim();
    if (provider !== options.provider) {
      throw new TsmError(
        'unknown-provider',
        `configfs-tsm provider is ${JSON.stringify(provider)}, this backend needs ${options.provider}`,
      );
    }
  } finally {
    await fs.rmdir(dir);
  }
}

/** Obtains TDX or SNP evidence binding `reportData` through configfs-tsm. */
export async function tsmReport(options: TsmReportOptions): Promise<TsmReport> {
  if (options.reportData.length !== 64)
    throw new RangeError(`report data must be 64 bytes, got ${options.reportData.length}`);
  const fs = options.fs ?? nodeTsmFs;
  const base = join(options.root ?? '/sys/kernel/config', 'tsm', 'report');
  const attempts = options.attempts ?? 3;
  for (let i = 0; i < attempts; i++) {
    const dir = join(base, options.name ?? `cloister-${process.pid}-${toHex(randomBytes(6))}`);
    try {
      await fs.mkdir(dir);
    } catch (e) {
      if (errno(e) === 'ENOENT')
        throw new TsmError('no-tsm', `configfs-tsm is not available (${base} is missing)`);
      throw e;
    }
    try {
      const report = await attempt(fs, dir, options.reportData, options.provider);
      if (report !== undefined) return report;
    } finally {
      await fs.rmdir(dir);
    }
  }
  throw new TsmError(
    'generation-changed',
    `another writer changed the configfs-tsm entry ${attempts} times in a row`,
  );
}
