/**
 * Entry point of the JavaScript enclave's platform thread (dist/js-enclave-platform.js): it records
 * the measurement with the chosen backend, serves the enclave's EREPORT/EGETKEY mailbox, the quoting
 * mailbox and the network relay to the measured key broker. It has a thread of its own because a host thread blocked in
 * `callSync` cannot serve them, and the enclave may seal, quote or fetch a key mid-call.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { backendByName } from '../tee/backends.ts';
import { servePlatformMailboxes } from '../tee/platform-mailboxes.ts';
import { serveNetRelay } from './net-relay.ts';

export interface PlatformThreadStart {
  /** The backend's name (src/tee/backends.ts). */
  backend: string;
  /** The sim platform file; the default platform when absent. */
  path?: string;
  mrenclave: Uint8Array;
  platformMailbox: SharedArrayBuffer;
  qeMailbox: SharedArrayBuffer;
  netMailbox: SharedArrayBuffer;
  /** The origin of the measured key broker: the one place the network relay reaches. */
  kbsOrigin?: string;
}

const start = workerData as PlatformThreadStart;
const port = parentPort;
if (!port) throw new Error('js-enclave-platform must run in a worker thread');
const backend = backendByName(start.backend);
await backend.measure(start.mrenclave);
const platform = await backend.openPlatform({ mrenclave: start.mrenclave, simPlatformPath: start.path });
servePlatformMailboxes(platform, start.platformMailbox, start.qeMailbox);
if (start.kbsOrigin !== undefined) serveNetRelay(start.netMailbox, start.kbsOrigin);
// The port keeps this thread alive while it waits on the mailboxes (Atomics.waitAsync alone does not).
port.on('message', () => {});
port.postMessage({ ready: true });
