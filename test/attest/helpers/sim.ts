// Sim platforms in temporary files, and enclave identities to attest.
import { join } from 'node:path';
import { SgxAttributeFlags } from '../../../src/attestation/report-body.ts';
import { SimPlatform } from '../../../src/tee/sim/platform.ts';
import type { EnclaveIdentity } from '../../../src/tee/sim/platform.ts';
import { tempDir } from '../../helpers/temp.ts';

/** A fresh platform file path in a new temporary directory (removed after the test that made it). */
export function platformPath(): string {
  return join(tempDir('cloister-sim-'), 'sim-platform.json');
}

export function newPlatform(): Promise<SimPlatform> {
  return SimPlatform.open({ path: platformPath() });
}

/** A production enclave identity; `over` changes fields. */
export function identity(over: Partial<EnclaveIdentity> = {}): EnclaveIdentity {
  return {
    mrenclave: new Uint8Array(32).fill(0x11),
    mrsigner: new Uint8Array(32).fill(0x22),
    isvprodid: 7,
    isvsvn: 3,
    attributes: { flags: SgxAttributeFlags.INIT | SgxAttributeFlags.MODE64BIT, xfrm: 3n },
    miscselect: 0,
    ...over,
  };
}

export const DEBUG_ATTRIBUTES = {
  flags: SgxAttributeFlags.INIT | SgxAttributeFlags.MODE64BIT | SgxAttributeFlags.DEBUG,
  xfrm: 3n,
};
