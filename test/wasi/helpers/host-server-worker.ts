// The real host-call server (src/host/host-calls.ts behind src/host/ring-server.ts) in a worker
// thread, serving the host directories in `workerData.mounts` over `workerData.ring` until `exit`.
import { parentPort, workerData } from 'node:worker_threads';
import { createHostCalls } from '../../../src/host/host-calls.ts';
import { RingServer } from '../../../src/host/ring-server.ts';
import { createStdinMailbox, StdinReader } from '../../../src/host/stdin-bridge.ts';
import { createMailbox } from '../../../src/interface/mailbox.ts';
import { viewRing } from '../../../src/interface/ring.ts';

const { ring: buffer, mounts } = workerData as { ring: SharedArrayBuffer; mounts: string[] };
const ring = viewRing(buffer);
const handle = createHostCalls({
  mounts,
  blockDevices: [],
  stdin: new StdinReader(createStdinMailbox(), () => {}),
  onExit: () => server.stop(),
  clockPage: ring.clock,
  qeMailbox: createMailbox(),
  netMailbox: createMailbox(),
});
const server: RingServer = new RingServer(ring, handle);
server.serve();
parentPort?.postMessage('stopped');
