/**
 * How the enclave ended, written by the host-call server when it serves `exit` and read by the
 * main thread once the enclave's thread has ended. Shared memory rather than a message: it is
 * there before the enclave receives the reply to `exit`, so before its thread can end.
 */
const HEADER = 4;
const MESSAGE_BYTES = 4096;

export function createExitRecord(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER * 4 + MESSAGE_BYTES);
}

export interface EnclaveExit {
  status: number;
  kind: number;
  message: string;
}

export function writeExitRecord(buffer: SharedArrayBuffer, exit: EnclaveExit): void {
  const header = new Int32Array(buffer, 0, HEADER);
  const bytes = new TextEncoder().encode(exit.message).subarray(0, MESSAGE_BYTES);
  new Uint8Array(buffer, HEADER * 4).set(bytes);
  header[1] = exit.status;
  header[2] = exit.kind;
  header[3] = bytes.length;
  Atomics.store(header, 0, 1);
}

/** The recorded exit, or undefined when the enclave never made its exit call. */
export function readExitRecord(buffer: SharedArrayBuffer): EnclaveExit | undefined {
  const header = new Int32Array(buffer, 0, HEADER);
  if (Atomics.load(header, 0) !== 1) return undefined;
  const message = new TextDecoder().decode(new Uint8Array(buffer, HEADER * 4, header[3]).slice());
  return { status: header[1], kind: header[2], message };
}
