// Host side of bench/host-call.ts: serves a ring with a handler that does no work.
import { workerData } from 'node:worker_threads';
import { Calls } from '../src/interface/calls.ts';
import { Errno } from '../src/interface/errno.ts';
import { viewRing } from '../src/interface/ring.ts';
import { RingServer } from '../src/host/ring-server.ts';

const server: RingServer = new RingServer(viewRing(workerData.ring as SharedArrayBuffer), (request) => {
  if (request.callId === Calls.exit.id) server.stop();
  return { errno: Errno.SUCCESS, result: 1n };
});
server.serve();
