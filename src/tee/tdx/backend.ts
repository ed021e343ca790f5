/**
 * The `tdx` backend: Cloister runs inside an Intel TDX trust domain (a confidential VM). Each
 * enclave's launch is extended into RTMR 3 (tdx/rtmr.ts), its quotes are TDX quotes v4 from the
 * kernel's configfs-tsm whose report data binds the enclave's MRENCLAVE and report data
 * (attestation/cvm-binding.ts), and they verify with `verifyTdxEnclaveEvidence` under Intel's root.
 */
import { rtmrEventDigest } from '../../attestation/cvm-binding.ts';
import type { TeeBackend } from '../backend.ts';
import { openCvmPlatform } from '../cvm/platform.ts';
import { tsmProbe } from '../tsm.ts';
import type { TsmFs } from '../tsm.ts';
import { startWorkerEnclave } from '../worker-enclave.ts';
import { extendRtmr } from './rtmr.ts';

export interface TdxBackendOptions {
  /** configfs mount point (default `/sys/kernel/config`). */
  tsmRoot?: string;
  /** The tdx_guest measurements directory (default rtmr.ts's `TDX_MEASUREMENTS_DIR`). */
  measurementsDir?: string;
  /** The RTMR extended at each launch (default 3). */
  rtmrIndex?: 2 | 3;
  fs?: TsmFs;
}

/** The event digests this process extended into the RTMR, in order (for its event log). */
export interface TdxBackend extends TeeBackend {
  readonly rtmrEvents: readonly Uint8Array[];
}

export function tdxBackend(options: TdxBackendOptions = {}): TdxBackend {
  const rtmrEvents: Uint8Array[] = [];
  return {
    name: 'tdx',
    proves:
      'an Intel TDX VM of the quoted MRTD/RTMRs on genuine hardware launched this enclave (RTMR3 and report data); isolation is the VM from its host, not the enclave from the rest of the VM',
    hardwareIsolation: true,
    rtmrEvents,
    async measure(mrenclave) {
      // Before extending anything: this machine must be able to quote the enclave.
      await tsmProbe({ provider: 'tdx_guest', root: options.tsmRoot, fs: options.fs });
      const digest = rtmrEventDigest(mrenclave);
      await extendRtmr({
        index: options.rtmrIndex ?? 3,
        digest,
        dir: options.measurementsDir,
        fs: options.fs,
      });
      rtmrEvents.push(digest);
    },
    openPlatform: async (request) =>
      openCvmPlatform(request, {
        backend: 'tdx',
        provider: 'tdx_guest',
        tsmRoot: options.tsmRoot,
        fs: options.fs,
      }),
    launch: startWorkerEnclave,
  };
}
