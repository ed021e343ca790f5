/**
 * Runs one program in one enclave: measures the enclave image, starts the enclave and whoever answers
 * its host calls (host-call-service.ts), feeds stdin, and waits for the enclave's `exit` call (or
 * its crash, or Ctrl-C).
 * Meanwhile it says on stderr when the host-call server leaves the enclave waiting.
 */
import type { EnclaveSecrets } from '../interface/enclave-start.ts';
import { createRingBuffer, viewRing } from '../interface/ring.ts';
import { canonicalJson, threadLimit, type RunConfig } from '../interface/run-config.ts';
import { ExitKind } from '../interface/exit.ts';
import { measureEnclave } from '../tee/measurement.ts';
import { backendByName } from '../tee/backends.ts';
import { hasPrestartedEnclave } from '../tee/worker-enclave.ts';
import { servePlatformMailboxes } from '../tee/platform-mailboxes.ts';
import type { Sigstruct } from '../attestation/sigstruct.ts';
import type { EnclavePlatform } from '../tee/backend.ts';
import { createMailbox } from '../interface/mailbox.ts';
import type { BlockDeviceFile } from './host-calls.ts';
import { readEnclaveCodeCache } from './enclave-code-cache.ts';
import { createExitRecord, readExitRecord } from './exit-record.ts';
import type { ServerStart } from './run-server.ts';
import { startHostCalls } from './host-call-service.ts';
import { watchRing } from './ring-watchdog.ts';
import { createStdinMailbox, feedStdin, releaseStdin } from './stdin-bridge.ts';
import { createTraceCounters, TraceCounters } from './trace.ts';
import { createProgressPage } from '../interface/progress-page.ts';
import { showUnlockProgress, type ProgressSink } from './unlock-progress.ts';
import { readEnclaveBundle, runBundleSource } from './run-threads.ts';

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
  /** Test hook: the bundle source handed to the enclave for its thread workers, as a malicious host might change it. */
  threadBundle?: (measured: string) => string;
  /** Extra CA certificates (PEM) the host's relay trusts for an https key broker (`--kbs-ca`). */
  kbsCa?: string;
  /** Told when a host call stays unanswered (default: a line on stderr). */
  onHostStalled?: (call: string, seconds: number) => void;
  /** The TEE backend by name (src/tee/backends.ts; default `sim`). */
  backend?: string;
  /** Draws how far unlocking the root image's keyslot has come (the progress page); default: nothing. */
  unlockProgress?: ProgressSink;
  /** Test hook: the progress page to hand over, as a hostile host might keep writing into it. */
  progressPage?: SharedArrayBuffer;
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

/** How long the enclave and host threads get to stop once a run is interrupted. */
const STOP_GRACE_MS = 2_000;

const reportStall = (call: string, seconds: number): void =>
  void process.stderr.write(
    `cloister: host-call server not answering ${call} for ${seconds} s (the enclave waits for it; Ctrl-C stops the run)\n`,
  );

/** `--net`: binds the UDP socket (node:dgram, loaded only for such runs) and serves its mailbox. */
async function openDatagrams(port: number) {
  const { HostDatagramSocket, serveDatagrams } = await import('./net-datagrams.ts');
  const socket = await HostDatagramSocket.open(port).catch((error: Error) => {
    throw new Error(`--net: cannot bind the host's UDP port: ${error.message}`);
  });
  return { socket, serve: (mailbox: SharedArrayBuffer) => serveDatagrams(mailbox, socket) };
}

export async function launch(options: LaunchOptions): Promise<LaunchResult> {
  const bundleSource = runBundleSource();
  const mrenclave = measureRun(options.wasm, options.config, bundleSource);
  // A lane of the ring for each thread a wasi-threads program may have (ring.ts).
  const threadLanes = threadLimit(options.config);
  const ring = createRingBuffer(threadLanes);
  const traceBuffer = createTraceCounters();
  const stdinMailbox = createStdinMailbox();
  const exitRecord = createExitRecord();
  const progressPage = options.progressPage ?? createProgressPage();
  // `--net`: the one UDP socket the enclave's WireGuard datagrams cross (ListenPort, or any port),
  // bound before anything is served, so that a port in use fails the run before it starts.
  const datagramMailbox = options.config.net ? createMailbox() : undefined;
  const datagrams = options.config.net ? await openDatagrams(options.config.net.listenPort ?? 0) : undefined;
  // The key broker relay (node:https) loads only for runs that use one.
  const netRelay = options.config.kbs ? await import('./net-relay.ts') : undefined;
  const platformMailbox = createMailbox();
  const qeMailbox = createMailbox();
  const netMailbox = createMailbox();
  const serverStart: ServerStart = {
    ring,
    threadLanes,
    stdinMailbox,
    trace: traceBuffer,
    exitRecord,
    qeMailbox,
    netMailbox,
    datagramMailbox,
    mounts: options.hostDirs,
    blockDevices: options.blockDevices ?? [],
  };
  const backend = backendByName(options.backend ?? 'sim');
  await backend.measure(mrenclave);
  // Both threads run before the platform is opened (the CLI may have started them before it even
  // read its options: run-threads.ts), so that their start-up (tens of ms each) overlaps the
  // launcher's own work. Until the platform is open nothing of the enclave's is answered: its
  // platform requests wait in their mailbox, its host calls for the server's go-ahead (a run whose
  // platform fails to open runs none of the program's requests).
  let failRun: (message: string) => void = () => {};
  const server = startHostCalls(serverStart, {
    // A run without host files, devices or network starts on the launcher's thread.
    onLauncherThread:
      serverStart.mounts.length === 0 &&
      serverStart.blockDevices.length === 0 &&
      !options.config.net &&
      !options.config.kbs &&
      // A test's faulty host may block its thread for good: never the launcher's.
      !process.env.CLOISTER_HOST_FAULT,
    onThread: (thread) => {
      thread.on('error', (error) => failRun(`host-call server failed: ${error.message}`));
      feedStdin(stdinMailbox, thread);
    },
    onFailure: (message) => failRun(message),
  });
  const enclave = backend.launch({
    bundleSource,
    // A prestarted enclave Worker checked and used the cache already.
    codeCache: hasPrestartedEnclave(bundleSource, options.config.memoryMiB)
      ? undefined
      : readEnclaveCodeCache(bundleSource),
    memoryMiB: options.config.memoryMiB,
    start: {
      ring,
      bundle: options.threadBundle ? options.threadBundle(bundleSource) : bundleSource,
      wasm: options.wasm,
      config: canonicalJson(options.config),
      mrenclave,
      platform: platformMailbox,
      secrets: options.secrets ?? { volumeKeys: [] },
      progress: progressPage,
    },
  });
  let interrupted: NodeJS.Signals | undefined;
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  // Listening from the start: a thread may fail while the platform opens.
  const ending = new Promise<Omit<LaunchResult, 'mrenclave' | 'trace' | 'hostVisibleMemory'>>((resolve) => {
    const failed = (message: string): void => resolve({ status: 1, kind: ExitKind.STARTUP_ERROR, message });
    failRun = failed;
    // Ctrl-C ends the run whatever the enclave and the host thread are doing (shell status 130).
    onSignal = (signal) => {
      interrupted = signal;
      resolve({
        status: signal === 'SIGINT' ? 130 : 143,
        kind: ExitKind.STARTUP_ERROR,
        message: 'interrupted',
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    enclave.on('error', (error: Error & { code?: string }) => {
      const recorded = readExitRecord(exitRecord);
      // The enclave refused the host's replies: its reason stands, whatever exit the host recorded.
      if (error.name === 'HostProtocolError') {
        resolve({ status: 1, kind: ExitKind.HOST_VIOLATION, message: `enclave stopped: ${error.message}` });
      } else if (recorded) resolve(recorded);
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
  });
  let platform: EnclavePlatform;
  try {
    platform = await backend.openPlatform({ mrenclave, sig: options.sig });
  } catch (error) {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    releaseStdin();
    datagrams?.socket.close();
    await Promise.all([enclave.terminate(), server.terminate()]);
    throw error;
  }
  // The run starts: the host-call server begins to answer the enclave.
  server.serve();
  const stopPlatform = [
    servePlatformMailboxes(platform, platformMailbox, qeMailbox),
    () => platform.close(),
    ...(netRelay && options.config.kbs
      ? [netRelay.serveNetRelay(netMailbox, new URL(options.config.kbs.url).origin, { ca: options.kbsCa })]
      : []),
  ];
  if (datagramMailbox && datagrams) {
    stopPlatform.push(datagrams.serve(datagramMailbox), () => datagrams.socket.close());
  }
  const stopProgress = options.unlockProgress
    ? showUnlockProgress(progressPage, options.unlockProgress)
    : () => {};
  const stopWatching = watchRing(viewRing(ring, threadLanes), options.onHostStalled ?? reportStall);
  const ended = await ending;
  // A second signal from now on takes the default action: the process ends at once.
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  stopWatching();
  stopProgress();
  releaseStdin();
  for (const stop of stopPlatform) stop();
  const stopped = Promise.all([enclave.terminate(), server.terminate()]);
  if (interrupted !== undefined) {
    const timeout = new Promise<'stuck'>((resolve) => setTimeout(resolve, STOP_GRACE_MS, 'stuck').unref());
    if ((await Promise.race([stopped, timeout])) === 'stuck') {
      // A thread blocked in the kernel (a read from a FIFO, a hung file system) cannot be stopped,
      // and would hold the process: end it by the signal itself.
      process.stderr.write('cloister: error: interrupted; a thread did not stop, ending by the signal\n');
      process.kill(process.pid, interrupted);
    }
  }
  await stopped;
  return {
    ...ended,
    mrenclave,
    trace: new TraceCounters(traceBuffer),
    hostVisibleMemory: [
      ring,
      stdinMailbox,
      platformMailbox,
      qeMailbox,
      netMailbox,
      exitRecord,
      progressPage,
      ...(datagramMailbox ? [datagramMailbox] : []),
    ],
  };
}
