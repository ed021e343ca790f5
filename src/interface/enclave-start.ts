import type { NetSecrets } from './net-config.ts';

/** What the platform hands an enclave when it starts it (the sim backend's EENTER arguments). */
export interface EnclaveStart {
  /** The host-call ring (see ring.ts). */
  ring: SharedArrayBuffer;
  /**
   * The enclave bundle's source, as measured: the enclave starts its thread workers from it after
   * checking it against `mrenclave` (docs/architecture.md, "Threads").
   */
  bundle: string;
  /** The program, as measured. */
  wasm: Uint8Array<ArrayBuffer>;
  /** Canonical JSON of the RunConfig, as measured. */
  config: string;
  /** This enclave's MRENCLAVE, as the platform measured it. */
  mrenclave: Uint8Array;
  /** The platform mailbox: EREPORT and EGETKEY (see platform.ts). */
  platform: SharedArrayBuffer;
  /**
   * Keys provisioned by the user at launch (`--key-file`...), not measured. In `sim` the host
   * handles them; a key broker (`--kbs`) releases them inside the enclave instead.
   */
  secrets: EnclaveSecrets;
  /**
   * The progress page (progress-page.ts): the enclave writes how far unlocking the root image's
   * keyslot has come, and never reads it. Absent: no progress is reported.
   */
  progress?: SharedArrayBuffer;
}

export interface EnclaveSecrets {
  /** Passphrase or key-file bytes of the root image's LUKS2 container. */
  rootKey?: Uint8Array;
  /** 32-byte key of each volume mount, in mount order. */
  volumeKeys: Uint8Array[];
  /** The keys of `--net` (net-config.ts). */
  net?: NetSecrets;
}
