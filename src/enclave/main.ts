/**
 * The enclave's entry point: the first code that runs inside the enclave Worker. It receives the
 * measured image (program and run configuration) and the host-call ring, builds the library OS
 * (mount table, WASI), runs the program, and ends the enclave with the `exit` host call.
 * Nothing here trusts the host: it talks to it only through `ring/`.
 */
import { workerData } from 'node:worker_threads';
import { Calls } from '../interface/calls.ts';
import { encodeUtf8 } from '../interface/codec.ts';
import { ExitKind, TRAP_STATUS } from '../interface/exit.ts';
import { viewRing } from '../interface/ring.ts';
import type { EnclaveStart } from '../interface/enclave-start.ts';
import type { RunConfig } from '../interface/run-config.ts';
import { ProcExit, Wasi } from './libos/index.ts';
import {
  WASM_PAGE,
  capMemory,
  checkCommand,
  checkHeader,
  checkImports,
  describeTrap,
} from './loader/wasm-module.ts';
import { HostChannel, HostProtocolError } from './ring/channel.ts';
import { RingClock, RingConsole } from './ring/host-services.ts';
import { buildNamespace, type Namespace } from './filesystems.ts';
import { Platform } from './attest/platform-client.ts';
import { ProvisioningError, brokerCounters, provisionFromKbs } from './kbs/provision.ts';
import { DiskError } from './storage/disks.ts';
import ext2fsWasm from './ext4/ext2fs.wasm';

async function run(start: EnclaveStart): Promise<void> {
  const ring = viewRing(start.ring);
  const channel = new HostChannel(ring);
  let closeDisks = (): void => {};
  const exit = (status: number, kind: number, message = ''): void => {
    try {
      closeDisks();
    } catch (error) {
      // A failed final commit must not pass for success.
      if (kind === ExitKind.PROGRAM) {
        kind = ExitKind.STARTUP_ERROR;
        status = 1;
        message = `could not commit the volumes: ${(error as Error).message}`;
      }
    }
    channel.drain();
    channel.call(Calls.exit, [BigInt(status), BigInt(kind)], encodeUtf8(message));
  };
  try {
    const config = JSON.parse(start.config) as RunConfig;
    const console = new RingConsole(channel);
    const clock = new RingClock(channel, ring.clock);
    const platform = new Platform(start.platform, channel);
    let namespace: Namespace;
    try {
      const secrets = { ...start.secrets };
      const { kbs } = config;
      if (kbs?.resource !== undefined)
        secrets.rootKey = await provisionFromKbs({ ...kbs, resource: kbs.resource }, channel, platform);
      namespace = buildNamespace({
        config,
        secrets,
        channel,
        console,
        clock,
        mrenclave: start.mrenclave,
        platform,
        ext2fsWasm,
        // Volumes' rollback protection: their generations recorded with the broker whose key is pinned.
        generations: kbs?.brokerKey ? brokerCounters(kbs, channel, platform) : undefined,
      });
    } catch (error) {
      if (!(error instanceof DiskError || error instanceof ProvisioningError)) throw error;
      exit(1, ExitKind.STARTUP_ERROR, error.message);
      return;
    }
    closeDisks = namespace.close;
    const { preopens } = namespace;
    const wasm = namespace.program ?? start.wasm;
    const wasi = new Wasi({ args: config.args, env: config.env, preopens, console, clock });

    let module: WebAssembly.Module;
    let instance: WebAssembly.Instance;
    try {
      checkHeader(wasm);
      const maxPages = Math.floor((config.memoryMiB * 1024 * 1024) / WASM_PAGE);
      module = new WebAssembly.Module(capMemory(wasm, maxPages));
      checkCommand(module);
      checkImports(module, wasi.imports);
      instance = new WebAssembly.Instance(module, wasi.imports);
    } catch (error) {
      exit(1, ExitKind.STARTUP_ERROR, startupMessage(error));
      return;
    }

    let status: number;
    try {
      status = wasi.start(instance);
    } catch (error) {
      if (error instanceof ProcExit) status = error.code;
      else if (error instanceof WebAssembly.RuntimeError || isStackOverflow(error)) {
        exit(TRAP_STATUS, ExitKind.TRAP, describeTrap(error as Error));
        return;
      } else throw error;
    }
    exit(status, ExitKind.PROGRAM);
  } catch (error) {
    if (error instanceof HostProtocolError) {
      // The ring itself is not to be trusted any more: try once to say why; the enclave stops
      // below whether or not the host takes the message.
      try {
        exit(1, ExitKind.HOST_VIOLATION, `enclave stopped: ${error.message}`);
      } catch {
        // Nothing more can be said through a broken ring.
      }
    }
    throw error;
  }
}

/** A program recursing without end overflows V8's stack: a trap, not a runtime bug. */
function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && error.message.includes('call stack');
}

function startupMessage(error: unknown): string {
  if (error instanceof WebAssembly.CompileError) return `not a valid WebAssembly module: ${error.message}`;
  if (error instanceof WebAssembly.LinkError) return `cannot link the program: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

void run(workerData as EnclaveStart);
