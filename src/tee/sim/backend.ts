/**
 * The `sim` backend: the enclave is a worker thread, its CPU the sim platform (a file of secrets
 * and a sim PKI, ~/.cloister/sim-platform.json). Same interfaces and formats as SGX hardware, and
 * NO isolation: the host process can read and change the enclave. Its quotes chain to the sim root,
 * which no verifier trusts unless told to.
 */
import type { TeeBackend } from '../backend.ts';
import { startWorkerEnclave } from '../worker-enclave.ts';
import { SimPlatform } from './platform.ts';
import { enclaveIdentity, simEnclavePlatform } from './platform-service.ts';

export const simBackend: TeeBackend = {
  name: 'sim',
  proves:
    'no hardware isolation, proves nothing: a worker thread the host can read and change; quotes chain to a local sim root no verifier trusts by default',
  hardwareIsolation: false,
  measure: async () => {},
  async openPlatform(request) {
    const platform = await SimPlatform.open(
      request.simPlatformPath === undefined ? {} : { path: request.simPlatformPath },
    );
    return simEnclavePlatform(platform, enclaveIdentity(request.mrenclave, request.sig));
  },
  launch: startWorkerEnclave,
};
