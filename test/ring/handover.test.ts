// A run's first host calls may be answered on the launcher's own thread (RingServer.serveWhile,
// host/host-call-service.ts) until one it does not take; a second server then takes the ring over
// from the next unanswered request. Attack: a request answered twice or skipped at the hand-over,
// which the enclave's channel reports as a protocol error (sequence numbers) or never sees answered.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Calls } from '../../src/interface/calls.ts';
import { Control, createRingBuffer, viewRing } from '../../src/interface/ring.ts';
import { HostChannel } from '../../src/enclave/ring/channel.ts';
import { postHostCall } from '../../src/enclave/ring/stubs.ts';
import { RingServer, type Request, type Response } from '../../src/host/ring-server.ts';

const clock = (channel: HostChannel, n: number): void => {
  for (let i = 0; i < n; i++) postHostCall(channel, Calls.clockSync, { monotonicNs: BigInt(i) });
};

function recorder(): { seen: number[][]; handler: (request: Request) => Response } {
  const seen: number[][] = [];
  return {
    seen,
    handler: (request) => {
      seen.push([request.callId, request.seq]);
      return { errno: 0 };
    },
  };
}

describe('host-call ring hand-over between servers', () => {
  it('the first server answers until a call it refuses; the next starts exactly there', async () => {
    const ring = viewRing(createRingBuffer());
    const channel = new HostChannel(ring);
    clock(channel, 3);
    postHostCall(channel, Calls.exit, { status: 0, kind: 0, message: 'done' });
    clock(channel, 2);

    const first = recorder();
    const launcherThread = new RingServer(ring, first.handler);
    const handedOver = await launcherThread.serveWhile((callId) => callId === Calls.clockSync.id);
    assert.equal(handedOver, true);
    assert.deepEqual(
      first.seen.map(([id]) => id),
      [Calls.clockSync.id, Calls.clockSync.id, Calls.clockSync.id],
      'it stopped before the exit request, leaving it submitted',
    );
    assert.equal(launcherThread.servedCounts()[0], 3);
    assert.equal(Atomics.load(ring.control, Control.hostParked), 0, 'the next server decides when it parks');

    const second = recorder();
    let thread: RingServer | undefined = undefined;
    thread = new RingServer(
      ring,
      (request) => {
        const response = second.handler(request);
        if (second.seen.length === 3) thread?.stop();
        return response;
      },
      undefined,
      launcherThread.servedCounts(),
    );
    assert.equal(await thread.serveWhile(() => true), false, 'stopped, nothing refused');
    assert.deepEqual(
      second.seen.map(([id]) => id),
      [Calls.exit.id, Calls.clockSync.id, Calls.clockSync.id],
    );
    const seqs = [...first.seen, ...second.seen].map(([, seq]) => seq);
    assert.deepEqual(seqs, [...new Set(seqs)], 'no request answered twice');
    // Every reply carries its own request's sequence number, or the channel throws here.
    channel.drain();
  });

  it('waits on the doorbell without blocking its event loop, and stop() with wake() ends the wait', async () => {
    const ring = viewRing(createRingBuffer());
    const channel = new HostChannel(ring);
    const { seen, handler } = recorder();
    const server = new RingServer(ring, handler);
    const serving = server.serveWhile(() => true);
    // Requests rung in later, from this same (unblocked) thread.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(seen.length, 0);
    clock(channel, 2);
    for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(seen.length, 2, 'the doorbell woke it');
    server.stop();
    server.wake();
    assert.equal(await serving, false);
    channel.drain();
  });
});
