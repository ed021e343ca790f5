/**
 * Runs one program in one enclave: measures the enclave image, starts the host-call server thread
 * and the enclave, feeds stdin, and waits for the enclave's `exit` call (or its crash).
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { EnclaveSecrets } from '../interface/enclave-start.ts';
import { createRingBuffer } from '../interface/ring.ts';
import { canonicalJson, type RunConfig } from '../interface/run-config.ts';
import { ExitKind } from '../interface/exit.ts';
import { measureEnclave } from '../tee/measurement.ts';
import { startSimEnclave } from '../tee/sim/enclave.ts';
import { SimPlatform } from '../tee/sim/platform.ts';
import { enclaveIdentity, serveQuotingEnclave, serveSimPlatform } from '../tee/sim/platform-service.ts';
import type { Sigstruct } from '../attestation/sigstruct.ts';
import { createMailbox } from '../interface/mailbox.ts';
import { serveNetRelay } from './net-relay.ts';
import type { BlockDeviceFile } from './host-calls.ts';
import { distFile } from './package-files.ts';
import { createExitRecord, readExitRecord } from './exit-record.ts';
import type { ServerStart } from './server-worker.ts';
import { createStdinMailbox, feedStdin, releaseStdin } from './stdin-bridge.ts';
import { createTraceCounters, TraceCounters } from './trace.ts';

export interface LaunchOptions {
  wasm: Uint8Array<ArrayBuffer>;
  config: RunConfig;
  /** Host directory of each hostdir mount, in the order of `config.mounts`. */
  hostDirs: string[];
  blockDevices?: BlockDeviceFile[];
  /** Keys provisioned at launch (not measured). */
  secrets?: EnclaveSecrets;
  /** The enclave's verified SIGSTRUCT (`--sig`): its signer identity. */
  sig?: Sigstruct;
}

export interface LaunchResult {
  /** Everything the host side shared with the enclave in this run (ring, mailboxes), for audits. */
  hostVisibleMemory: SharedArrayBuffer[];
  status: number;
  kind: number;
  message: string;
  mrenclave: Uint8Array;
  trace: TraceCounters;
}

/** The enclave bundle's source as it will run (and be measured). */
export function readEnclaveBundle(): string {
  return readFileSync(distFile('enclave.js'), 'utf8');
}

/** MRENCLAVE of a program with a run configuration, under the current enclave bundle. */
export function measureRun(
  wasm: Uint8Array,
  config: RunConfig,
  bundleSource = readEnclaveBundle(),
): Uint8Array {
  const encoder = new TextEncoder();
  return measureEnclave({
    bundle: encoder.encode(bundleSource),
    wasm,
    config: encoder.encode(canonicalJson(config)),
  });
}

export async function launch(options: LaunchOptions): Promise<LaunchResult> {
  const bundleSource = readEnclaveBundle();
  const mrenclave = measureRun(options.wasm, options.config, bundleSource);
  const ring = createRingBuffer();
  const traceBuffer = createTraceCounters();
  const stdinMailbox = createStdinMailbox();
  const exitRecord = createExitRecord();
  const platform = await SimPlatform.open();
  const identity = enclaveIdentity(mrenclave, options.sig);
  const platformMailbox = createMailbox();
  const qeMailbox = createMailbox();
  const netMailbox = createMailbox();
  const stopPlatform = [
    serveSimPlatform(platformMailbox, platform, identity),
    serveQuotingEnclave(qeMailbox, platform),
    ...(options.config.kbs ? [serveNetRelay(netMailbox, new URL(options.config.kbs.url).origin)] : []),
  ];
  const serverStart: ServerStart = {
    ring,
    stdinMailbox,
    trace: traceBuffer,
    exitRecord,
    qeMailbox,
    netMailbox,
    mounts: options.hostDirs,
    blockDevices: options.blockDevices ?? [],
  };
  const server = new Worker(distFile('host-server.js'), { workerData: serverStart });
  feedStdin(stdinMailbox, server);
  const enclave = startSimEnclave({
    bundleSource,
    memoryMiB: options.config.memoryMiB,
    start: {
      ring,
      wasm: options.wasm,
      config: canonicalJson(options.config),
      mrenclave,
      platform: platformMailbox,
      secrets: options.secrets ?? { volumeKeys: [] },
    },
  });

  const ended = await new Promise<Omit<LaunchResult, 'mrenclave' | 'trace' | 'hostVisibleMemory'>>(
    (resolve) => {
      const failed = (message: string): void => resolve({ status: 1, kind: ExitKind.STARTUP_ERROR, message });
      server.on('error', (error) => failed(`host-call server failed: ${error.message}`));
      enclave.on('error', (error: Error & { code?: string }) => {
        const recorded = readExitRecord(exitRecord);
        if (recorded) resolve(recorded);
        else if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') {
          failed(`enclave memory limit exceeded (${options.config.memoryMiB} MiB)`);
        } else failed(`enclave stopped: ${error.message}`);
      });
      enclave.on('exit', () => {
        // An enclave that ends without its exit call has crashed.
        resolve(
          readExitRecord(exitRecord) ?? {
            status: 1,
            kind: ExitKind.STARTUP_ERROR,
            message: 'enclave ended without exiting',
          },
        );
      });
    },
  );
  releaseStdin();
  for (const stop of stopPlatform) stop();
  await Promise.all([enclave.terminate(), server.terminate()]);
  return {
    ...ended,
    mrenclave,
    trace: new TraceCounters(traceBuffer),
    hostVisibleMemory: [ring, stdinMailbox, platformMailbox, qeMailbox, netMailbox, exitRecord],
  };
}
