/**
 * SGX evidence under Gramine: its pseudo-files `<root>/{attestation_type,user_report_data,quote}`
 * (`/dev/attestation` inside a Gramine-SGX enclave). Writing the 64-byte report data then reading
 * `quote` gives a DCAP quote of the enclave with that report data. The root is a parameter for tests.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesEqual } from '../attestation/bytes.ts';
import { parseQuote } from '../attestation/quote.ts';
import type { SgxQuote } from '../attestation/quote.ts';

/** Evidence could not be obtained; `code` says why. */
export class GramineError extends Error {
  override name = 'GramineError';
  constructor(
    readonly code: 'not-gramine' | 'unsupported-attestation-type' | 'not-sgx' | 'report-data-mismatch',
    message: string,
  ) {
    super(message);
  }
}

export interface GramineQuote {
  /** `dcap` (the only type quoted here). */
  attestationType: string;
  quote: Uint8Array;
  parsed: SgxQuote;
}

/** Obtains a DCAP quote binding `reportData` (64 bytes) from Gramine's `/dev/attestation` (or `root`). */
export async function gramineQuote(options: {
  reportData: Uint8Array;
  root?: string;
}): Promise<GramineQuote> {
  if (options.reportData.length !== 64)
    throw new RangeError(`report data must be 64 bytes, got ${options.reportData.length}`);
  const root = options.root ?? '/dev/attestation';
  let attestationType: string;
  try {
    attestationType = (await readFile(join(root, 'attestation_type'), 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new GramineError('not-gramine', `${root}/attestation_type is missing: not in a Gramine enclave`);
  }
  // "none": Gramine runs without remote attestation; "epid": a retired format.
  if (attestationType !== 'dcap') {
    throw new GramineError(
      'unsupported-attestation-type',
      `Gramine attestation type is ${JSON.stringify(attestationType)}, need "dcap"`,
    );
  }
  await writeFile(join(root, 'user_report_data'), options.reportData);
  const quote = new Uint8Array(await readFile(join(root, 'quote')));
  const parsed = parseQuote(quote);
  if (parsed.kind !== 'sgx') throw new GramineError('not-sgx', `Gramine returned a ${parsed.kind} quote`);
  if (!bytesEqual(parsed.body.reportData, options.reportData))
    throw new GramineError('report-data-mismatch', 'the quote does not carry the report data written');
  return { attestationType, quote, parsed };
}
