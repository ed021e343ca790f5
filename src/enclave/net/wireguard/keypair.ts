/** The transport keys of one session: counters, the replay window, and when they were made. */
import { ReplayWindow } from './replay.ts';
import type { TransportKeys } from './noise.ts';

export class Keypair {
  readonly send: Uint8Array;
  readonly recv: Uint8Array;
  readonly replay = new ReplayWindow();
  sendCounter = 0;

  constructor(
    keys: TransportKeys,
    readonly localIndex: number,
    readonly remoteIndex: number,
    readonly createdMs: number,
    /** Whether this side sent the initiation (only the initiator rekeys on age). */
    readonly isInitiator: boolean,
  ) {
    this.send = keys.send;
    this.recv = keys.recv;
  }

  ageMs(nowMs: number): number {
    return nowMs - this.createdMs;
  }

  /** Overwrites the keys once the session is over. */
  wipe(): void {
    this.send.fill(0);
    this.recv.fill(0);
  }
}
