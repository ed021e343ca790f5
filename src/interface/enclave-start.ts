/** What the platform hands an enclave when it starts it (the sim backend's EENTER arguments). */
export interface EnclaveStart {
  /** The host-call ring (see ring.ts). */
  ring: SharedArrayBuffer;
  /** The program, as measured. */
  wasm: Uint8Array<ArrayBuffer>;
  /** Canonical JSON of the RunConfig, as measured. */
  config: string;
  /** This enclave's MRENCLAVE, as the platform measured it. */
  mrenclave: Uint8Array;
}
