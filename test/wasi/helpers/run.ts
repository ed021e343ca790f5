/** Runs a `.wasm` in-process with the enclave's WASI layer, a captured console and the host clock. */
import { readFileSync } from 'node:fs';
import type { ClockSource, ConsoleCalls } from '../../../src/interface/services.ts';
import { Wasi } from '../../../src/enclave/libos/index.ts';
import type { Preopen } from '../../../src/enclave/libos/index.ts';

/** A console whose stdin is a fixed byte string and whose output is collected. */
export class CapturedConsole implements ConsoleCalls {
  private readonly out: Uint8Array[] = [];
  private readonly err: Uint8Array[] = [];
  private stdinAt = 0;

  constructor(private readonly stdin: Uint8Array = new Uint8Array(0)) {}

  write(fd: 1 | 2, data: Uint8Array): void {
    (fd === 1 ? this.out : this.err).push(data.slice());
  }

  readStdin(max: number): Uint8Array {
    const chunk = this.stdin.subarray(this.stdinAt, this.stdinAt + max);
    this.stdinAt += chunk.length;
    return chunk.slice();
  }

  pollStdin(): boolean {
    return true;
  }

  get stdout(): string {
    return Buffer.concat(this.out).toString('utf8');
  }

  get stderr(): string {
    return Buffer.concat(this.err).toString('utf8');
  }
}

/** The host's clocks, as the enclave's trusted clock would pass them on. */
export const hostClock: ClockSource = {
  realtimeNs: () => BigInt(Date.now()) * 1_000_000n,
  monotonicNs: () => process.hrtime.bigint(),
  resolutionNs: () => 1000n,
};

export interface RunOptions {
  args?: string[];
  env?: string[];
  preopens?: Preopen[];
  stdin?: string | Uint8Array;
  console?: ConsoleCalls;
  clock?: ClockSource;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const modules = new Map<string, WebAssembly.Module>();

/** Compiles (once per path) and runs `wasmPath` to completion. */
export function runWasm(wasmPath: string, options: RunOptions = {}): RunResult {
  let module = modules.get(wasmPath);
  if (!module) {
    module = new WebAssembly.Module(readFileSync(wasmPath));
    modules.set(wasmPath, module);
  }
  const stdin = typeof options.stdin === 'string' ? new TextEncoder().encode(options.stdin) : options.stdin;
  const console = new CapturedConsole(stdin);
  const wasi = new Wasi({
    args: options.args ?? ['program.wasm'],
    env: options.env ?? [],
    preopens: options.preopens ?? [],
    console: options.console ?? console,
    clock: options.clock ?? hostClock,
  });
  const instance = new WebAssembly.Instance(module, wasi.imports);
  const exitCode = wasi.start(instance);
  return { exitCode, stdout: console.stdout, stderr: console.stderr };
}
