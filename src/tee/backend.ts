/**
 * A TEE backend: how an enclave is started and what stands behind its local reports, seal keys and
 * quotes. The launchers (src/host/launcher.ts, src/host/js-enclave.ts) pick one by name from
 * `backends.ts` and use nothing else of it; the measurement (measurement.ts, mrenclave.ts) is the
 * same for every backend and lives apart from them. A new backend is a folder here implementing
 * `TeeBackend` (see README.md and skeleton/backend.ts) plus one line in backends.ts.
 */
import type { Worker } from 'node:worker_threads';
import type { Sigstruct } from '../attestation/sigstruct.ts';
import type { EnclaveStart } from '../interface/enclave-start.ts';
import type { JsEnclaveStart } from '../interface/js-enclave.ts';

/** What a backend starts: the measured bundle and the enclave's start record. */
export interface EnclaveLaunch {
  /** The enclave bundle's source, exactly the bytes that were measured. */
  bundleSource: string;
  /** A WASI enclave's start, or a JavaScript enclave's (docs/js-enclave.md). */
  start: EnclaveStart | JsEnclaveStart;
  /** Limit of the enclave's own heap, like a fixed EPC size. */
  memoryMiB: number;
  /** V8's code cache for `bundleSource`, checked by the caller (host/enclave-code-cache.ts). */
  codeCache?: Uint8Array;
}

/** The enclave being given a platform: its measurement and, if signed, its verified SIGSTRUCT. */
export interface PlatformRequest {
  mrenclave: Uint8Array;
  sig?: Sigstruct;
  /** `sim` only: the platform file (default `$CLOISTER_SIM_PLATFORM` or ~/.cloister/sim-platform.json). */
  simPlatformPath?: string;
}

/**
 * The platform one enclave talks to (served on its mailboxes by platform-mailboxes.ts). Byte layouts
 * are SGX's (src/interface/platform.ts) whatever the backend, so the enclave is the same code on all.
 */
export interface EnclavePlatform {
  /** EREPORT: the enclave's 432-byte REPORT for the 512-byte TARGETINFO `target`, binding 64 bytes. */
  localReport(target: Uint8Array, reportData: Uint8Array): Uint8Array;
  /** EGETKEY: the enclave's 16-byte seal key; throws `BackendUnsupported` where there is none. */
  sealKey(policy: 'MRENCLAVE' | 'MRSIGNER'): Uint8Array;
  /** TARGETINFO of the quoting service, for the enclave to target its REPORT at. */
  quoteTarget(): Uint8Array;
  /** Evidence for a REPORT targeted at `quoteTarget()`: what a remote verifier judges. */
  quote(report: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** Releases what the platform holds (files, keys). */
  close(): void;
}

export interface TeeBackend {
  /** The `--backend` name. */
  readonly name: string;
  /** One line for `--help` and `--version`: what this backend's evidence proves, and what not. */
  readonly proves: string;
  /** Whether the enclave's memory is protected from the host by hardware. */
  readonly hardwareIsolation: boolean;
  /**
   * Records the enclave's measurement with the platform before it starts (TDX: extends an RTMR);
   * a backend with nothing to record does nothing. Throws when the platform refuses.
   */
  measure(mrenclave: Uint8Array): Promise<void>;
  /**
   * Opens the platform for one enclave. The launcher may call it after `launch` (so the enclave
   * starts meanwhile): the enclave's platform requests wait in their mailbox until it is served.
   */
  openPlatform(request: PlatformRequest): Promise<EnclavePlatform>;
  /** Starts the enclave; the Worker's 'error' and 'exit' events tell how it ended. */
  launch(launch: EnclaveLaunch): Worker;
}

/** The backend cannot do this at all (not a transient failure): the message says why. */
export class BackendUnsupported extends Error {
  override name = 'BackendUnsupported';
}
