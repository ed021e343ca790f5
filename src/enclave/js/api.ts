/**
 * The object the application imports as `cloister:enclave`: its identity and configuration,
 * sealing, attestation and calls to the host. Frozen, and made of functions that take and return
 * copies, so the app holds no reference into the runtime's state.
 */
import type { Json } from '../../interface/jcs.ts';
import type { Platform } from '../attest/platform-client.ts';
import type { HostCalls } from './host-call.ts';
import type { Sealer, SealPolicy } from './seal.ts';

/** The API object; its declaration for apps is cloister-enclave.d.ts. */
export type EnclaveApi = typeof import('cloister:enclave');

export function enclaveApi(parts: {
  mrenclave: Uint8Array;
  settings: Json | undefined;
  sealer: Sealer;
  platform: Platform;
  hostCalls: HostCalls;
  kbsResource: (resource: string) => Promise<Uint8Array>;
}): EnclaveApi {
  const { sealer, platform, hostCalls, kbsResource } = parts;
  const settings = parts.settings === undefined ? undefined : deepFreeze(structuredClone(parts.settings));
  return Object.freeze({
    get mrenclave() {
      return parts.mrenclave.slice();
    },
    config: settings,
    seal: (plaintext: Uint8Array, aad?: Uint8Array, policy?: SealPolicy) =>
      sealer.seal(bytes(plaintext), aad && bytes(aad), policy),
    unseal: (sealed: Uint8Array, aad?: Uint8Array) => sealer.unseal(bytes(sealed), aad && bytes(aad)),
    report: (targetInfo: Uint8Array, reportData: Uint8Array) =>
      platform.ereport(bytes(targetInfo), bytes(reportData)),
    quote: (reportData: Uint8Array) => platform.quote(bytes(reportData)),
    kbsResource: async (resource: string) => kbsResource(String(resource)),
    host: Object.freeze({
      call: (name: string, data: Uint8Array) => hostCalls.call(name, bytes(data)),
      raised: <E>(error: E): E => {
        if (typeof error === 'object' && error !== null) hostCalls.raisedByHost.add(error);
        return error;
      },
    }),
  });
}

function bytes(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError('expected a Uint8Array');
  return value.slice();
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
