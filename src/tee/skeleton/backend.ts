/**
 * The skeleton of the next backend (copy this folder, rename, fill in, add one line to backends.ts;
 * README.md in src/tee says what each part must do). It is not registered: every part refuses with
 * the part's name, so a half-written backend fails loudly instead of running without isolation.
 */
import { BackendUnsupported } from '../backend.ts';
import type { TeeBackend } from '../backend.ts';

const missing = (part: string): never => {
  throw new BackendUnsupported(`the skeleton backend does not implement ${part} yet`);
};

export const skeletonBackend: TeeBackend = {
  name: 'skeleton',
  proves: 'nothing: not implemented',
  hardwareIsolation: false,
  // Record the measurement with the hardware (an RTMR, a PCR) or do nothing if it has no register.
  measure: async () => missing('measure'),
  // Local reports, seal keys and quotes of one enclave, in SGX's byte layouts (interface/platform.ts).
  openPlatform: async () => missing('openPlatform'),
  // Start the enclave (a worker thread inside a confidential VM: worker-enclave.ts; or a real enclave).
  launch: () => missing('launch'),
};
