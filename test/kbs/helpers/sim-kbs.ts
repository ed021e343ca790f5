/**
 * A KBS on 127.0.0.1 that trusts a sim platform of its own (in a temporary folder removed by
 * `close`), and clients whose evidence is real sim quotes: an EREPORT to the sim quoting enclave,
 * quoted, as the runtime makes it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyDcapCollateral } from '../../../src/attestation/dcap-collateral.ts';
import { SgxAttributeFlags } from '../../../src/attestation/report-body.ts';
import { KbsClient } from '../../../src/enclave/kbs/client.ts';
import type { KbsClientOptions } from '../../../src/enclave/kbs/client.ts';
import { dcapEvidenceVerifier } from '../../../src/attestation/evidence.ts';
import { KeyBroker } from '../../../src/kbs/server.ts';
import type { KbsOptions } from '../../../src/kbs/server.ts';
import { KbsStore } from '../../../src/kbs/store.ts';
import { SimPlatform } from '../../../src/tee/sim/platform.ts';
import type { EnclaveIdentity } from '../../../src/tee/sim/platform.ts';
import { SimQuotingEnclave, simCollateral } from '../../../src/tee/sim/quoting.ts';
import { DISK_KEY, POLICY } from './kbs.ts';

export const APP: EnclaveIdentity = {
  mrenclave: new Uint8Array(32).fill(0x11),
  mrsigner: new Uint8Array(32).fill(0x22),
  isvprodid: 1,
  isvsvn: 3,
  attributes: { flags: SgxAttributeFlags.INIT | SgxAttributeFlags.MODE64BIT, xfrm: 3n },
  miscselect: 0,
};

export interface SimKbs {
  url: string;
  broker: KeyBroker;
  store: KbsStore;
  logs: string[];
  dir: string;
  /** A client on 127.0.0.1 whose evidence is a sim quote of APP. */
  client(extra?: Partial<KbsClientOptions>): KbsClient;
  close(): Promise<void>;
}

/** Starts a KBS holding `default/disk/app` = DISK_KEY, trusting a fresh sim platform. */
export async function startSimKbs(
  options: Partial<KbsOptions> & { file?: (dir: string) => string } = {},
): Promise<SimKbs> {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-kbs-sim-'));
  try {
    const platform = await SimPlatform.open({ path: join(dir, 'sim-platform.json') });
    const root = platform.rootCertificateDer;
    const collateral = await verifyDcapCollateral(await simCollateral(platform), { trustedRoot: root });
    const store = await KbsStore.open({ file: options.file?.(dir), flushMs: 20 });
    store.put('default/disk/app', DISK_KEY, POLICY);
    const logs: string[] = [];
    const { file: _file, ...rest } = options;
    const broker = new KeyBroker({
      verifier: dcapEvidenceVerifier({ collateral, trustedRoot: root }),
      policy: POLICY,
      log: (line) => logs.push(line),
      ...rest,
      store,
    });
    const { url, close } = await broker.listen({ host: '127.0.0.1', port: 0 });
    const qe = new SimQuotingEnclave(platform);
    return {
      url,
      broker,
      store,
      logs,
      dir,
      client: (extra = {}) =>
        new KbsClient({
          url,
          fetch: (u, init) => fetch(u, init),
          evidence: (reportData) => qe.quote(platform.ereport(APP, qe.targetInfo(), reportData)),
          ...extra,
        }),
      close: async () => {
        try {
          await close();
          store.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
