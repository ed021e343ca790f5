// The module a JavaScript enclave application imports (`import { seal } from 'cloister:enclave'`):
// its enclave API, which the runtime provides (api.ts) and `bundleJsApp` leaves as an import.
declare module 'cloister:enclave' {
  export type SealPolicy = 'MRENCLAVE' | 'MRSIGNER';
  /** This enclave's MRENCLAVE, as the platform measured it. */
  export const mrenclave: Uint8Array;
  /** The `settings` of the measured configuration (frozen). */
  export const config: unknown;
  /** AES-256-GCM under this enclave's seal key (EGETKEY); `aad` is authenticated, not stored. */
  export function seal(plaintext: Uint8Array, aad?: Uint8Array, policy?: SealPolicy): Uint8Array;
  /** The plaintext of a blob `seal` made in an enclave of the same identity; throws otherwise. */
  export function unseal(sealed: Uint8Array, aad?: Uint8Array): Uint8Array;
  /** EREPORT for the enclave `targetInfo` names (512 bytes), with 64 bytes of report data. */
  export function report(targetInfo: Uint8Array, reportData: Uint8Array): Uint8Array;
  /** A DCAP quote of this enclave with 64 bytes of report data (relayed by the host). */
  export function quote(reportData: Uint8Array): Uint8Array;
  /**
   * The resource `repository/type/tag` from the key broker of the measured configuration (`kbs`):
   * the enclave attests with a quote binding the broker's nonce and a fresh key pair; the host
   * relays the HTTP exchange and sees only ciphertext.
   */
  export function kbsResource(resource: string): Promise<Uint8Array>;
  /**
   * `call`: calls the host's handler `name` (synchronously) with bytes; returns its reply bytes.
   * `raised(error)`: marks an error as the host's (its handler threw it, the app rethrows it) and
   * returns it. Left uncaught outside a call, such an error ends that task only, as it would fail
   * a call: the enclave serves on and tells the host (`cloister-uncaught`, `[name, message]`). The
   * app's own uncaught errors still stop the enclave.
   */
  export const host: {
    call(name: string, data: Uint8Array): Uint8Array;
    raised<E>(error: E): E;
  };
}
