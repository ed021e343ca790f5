/**
 * Launching a job enclave (untrusted host side): the measured job bundle in a JS enclave, with the
 * host calls it makes served from the block store and the file system (or, on `nats://`, inputs from
 * the object store). What these handlers see and
 * return is ciphertext and names; only `dev-job-key` (key-file development mode) carries a key in.
 */
import { readFile } from 'node:fs/promises';
import { launchJsEnclave, type HostHandler, type JsEnclave } from '../../host/js-enclave.ts';
import { HostCall, unframeBlock } from '../host-calls.ts';
import type { BlockStore } from '../host-io.ts';
import { decode } from '../json-bytes.ts';
import type { JobEnclave } from './bundle.ts';

export interface JobEnclaveHost {
  /** The block store (executors; the job program's enclave has none). */
  readonly store?: BlockStore;
  /** Reads a sealed input file by the path the task names (default: from this machine's file system). */
  readonly readInput?: (path: string) => Promise<Uint8Array>;
  /** Key-file development mode only: the key the host hands the enclave. */
  readonly devJobKey?: Uint8Array;
  /** The sim platform file (default: launchJsEnclave's). */
  readonly platformPath?: string;
  /** More handlers (the job program's list-files and run-action). */
  readonly handlers?: Record<string, HostHandler>;
}

const EMPTY = new Uint8Array(0);
const readLocalFile = async (path: string): Promise<Uint8Array> => new Uint8Array(await readFile(path));
const text = (bytes: Uint8Array): string => new TextDecoder('utf-8', { fatal: true }).decode(bytes);

export function launchJobEnclave(built: JobEnclave, io: JobEnclaveHost): Promise<JsEnclave> {
  const { store, devJobKey } = io;
  const handlers: Record<string, HostHandler> = {
    ...(store ? blockHandlers(store, io.readInput ?? readLocalFile) : {}),
    ...(devJobKey ? { [HostCall.devJobKey]: () => Uint8Array.from(devJobKey) } : {}),
    ...io.handlers,
  };
  return launchJsEnclave({
    appBundle: built.app,
    config: built.config,
    platformPath: io.platformPath,
    hostHandlers: handlers,
    onConsole: (_stream, line) => process.stderr.write(line),
  });
}

function blockHandlers(
  store: BlockStore,
  readInput: (path: string) => Promise<Uint8Array>,
): Record<string, HostHandler> {
  return {
    [HostCall.blockGet]: async (name) => store.get(text(name)),
    [HostCall.blockPut]: async (data) => {
      const { name, bytes } = unframeBlock(data);
      await store.put(name, bytes);
      return EMPTY;
    },
    [HostCall.blockRemove]: async (data) => {
      await store.remove(decode<string[]>(data));
      return EMPTY;
    },
    [HostCall.readFile]: async (path) => readInput(text(path)),
  };
}
