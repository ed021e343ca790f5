/**
 * The `snp` backend: Cloister runs inside an AMD SEV-SNP guest (a confidential VM). SNP has no
 * runtime measurement register, so the enclave is bound only through the report data
 * (attestation/cvm-binding.ts) of the SNP report that the kernel's configfs-tsm returns; reports
 * verify with `verifySnpEnclaveEvidence` under AMD's ARK.
 */
import type { TeeBackend } from '../backend.ts';
import { openCvmPlatform } from '../cvm/platform.ts';
import { tsmProbe } from '../tsm.ts';
import type { TsmFs } from '../tsm.ts';
import { startWorkerEnclave } from '../worker-enclave.ts';

export interface SnpBackendOptions {
  /** configfs mount point (default `/sys/kernel/config`). */
  tsmRoot?: string;
  fs?: TsmFs;
}

export function snpBackend(options: SnpBackendOptions = {}): TeeBackend {
  return {
    name: 'snp',
    proves:
      'an AMD SEV-SNP VM of the reported MEASUREMENT on genuine hardware asked for this enclave (report data only: SNP has no runtime register); isolation is the VM from its host, not the enclave from the rest of the VM',
    hardwareIsolation: true,
    // Nothing to extend (the binding is made per quote, in the report data), but the enclave must
    // not start on a machine that cannot attest it.
    measure: () => tsmProbe({ provider: 'sev_guest', root: options.tsmRoot, fs: options.fs }),
    openPlatform: async (request) =>
      openCvmPlatform(request, {
        backend: 'snp',
        provider: 'sev_guest',
        tsmRoot: options.tsmRoot,
        fs: options.fs,
      }),
    launch: startWorkerEnclave,
  };
}
