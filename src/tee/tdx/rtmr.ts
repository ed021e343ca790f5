/**
 * Extends a TDX runtime measurement register through the kernel's sysfs files (Linux 6.16+,
 * Documentation/ABI/testing/sysfs-devices-virtual-misc-tdx_guest): `<dir>/rtmrN:sha384` reads as
 * the register's 48 bytes, and writing 48 bytes extends it (TDG.MR.RTMR.EXTEND:
 * SHA-384(RTMR ‖ data)). RTMR 2 and 3 are the ones left to guest software. The value is read back
 * and must be exactly the extension of the value before, so a file that ignores writes, or another
 * writer extending at the same moment (which would make the event log unreplayable), is an error.
 */
import { join } from 'node:path';
import { rtmrExtend } from '../../attestation/cvm-binding.ts';
import type { TsmFs } from '../tsm.ts';
import { nodeTsmFs } from '../tsm.ts';

/** Where the tdx_guest driver puts the measurement registers. */
export const TDX_MEASUREMENTS_DIR = '/sys/devices/virtual/misc/tdx_guest/measurements';

export class RtmrError extends Error {
  override name = 'RtmrError';
  constructor(
    readonly code: 'no-rtmr' | 'bad-rtmr' | 'rtmr-raced',
    message: string,
  ) {
    super(message);
  }
}

export interface RtmrOptions {
  index: 2 | 3;
  /** 48 bytes to extend with. */
  digest: Uint8Array;
  /** Default `TDX_MEASUREMENTS_DIR`. */
  dir?: string;
  fs?: TsmFs;
}

async function readRtmr(fs: TsmFs, path: string): Promise<Uint8Array> {
  let value: Uint8Array;
  try {
    value = await fs.readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new RtmrError('no-rtmr', `${path} is missing: not a TDX guest, or a kernel before 6.16`);
    throw e;
  }
  if (value.length !== 48) throw new RtmrError('bad-rtmr', `${path} holds ${value.length} bytes, not 48`);
  return value;
}

/** Extends RTMR `index` with `digest`; returns the register's new value. */
export async function extendRtmr(options: RtmrOptions): Promise<Uint8Array> {
  if (options.digest.length !== 48)
    throw new RangeError(`an RTMR extends with 48 bytes, got ${options.digest.length}`);
  const fs = options.fs ?? nodeTsmFs;
  const path = join(options.dir ?? TDX_MEASUREMENTS_DIR, `rtmr${options.index}:sha384`);
  const before = await readRtmr(fs, path);
  await fs.writeFile(path, options.digest);
  const after = await readRtmr(fs, path);
  const expected = rtmrExtend(before, options.digest);
  if (Buffer.compare(Buffer.from(after), Buffer.from(expected)) !== 0) {
    throw new RtmrError(
      'rtmr-raced',
      `RTMR${options.index} is not the extension of its value before: ignored write or another writer`,
    );
  }
  return after;
}
