/**
 * The progress page: one Int32 slot of host-visible shared memory where the enclave reports how far
 * a long startup step has come (today: the LUKS2 keyslot KDF of the root image), so that the host
 * can draw a progress bar. The enclave only writes it and never reads it back: nothing the host puts
 * there can reach the enclave. What it shows is workload-independent: Argon2's progress counts
 * memory blocks, whose number follows from the KDF's cost parameters in the public LUKS2 header.
 */

/** The slot's value when the step is complete; 0 means nothing reported yet. */
export const PROGRESS_SCALE = 1_000_000;

export function createProgressPage(): SharedArrayBuffer {
  return new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
}

/** Enclave side: a reporter of fractions (0 to 1) into `page`; write-only. */
export function progressWriter(page: SharedArrayBuffer): (fraction: number) => void {
  const slot = new Int32Array(page, 0, 1);
  return (fraction) => {
    Atomics.store(slot, 0, Math.round(Math.min(1, Math.max(0, fraction)) * PROGRESS_SCALE));
  };
}

/** Host side: the fraction last reported (0 to 1), clamped whatever the slot holds. */
export function readProgress(page: SharedArrayBuffer): number {
  const value = Atomics.load(new Int32Array(page, 0, 1), 0);
  return Math.min(1, Math.max(0, value / PROGRESS_SCALE));
}
