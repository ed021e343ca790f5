/**
 * Release policies: which verified enclaves may have a resource. The fields follow the tenant policy
 * of `cloister attest verify` (MRENCLAVE / MRSIGNER allow-lists, product id, minimum ISVSVN, debug,
 * accepted TCB statuses). Every field present must hold; an absent field does not constrain.
 */
import type { Claims } from './evidence.ts';

/** A policy as stored and as read from `policy.json`. */
export interface ResourcePolicy {
  /** Allowed MRENCLAVE (TDX: MRTD) values, hex. */
  mrenclave?: string | string[];
  /** Allowed MRSIGNER values, hex. */
  mrsigner?: string | string[];
  isvprodid?: number;
  minIsvsvn?: number;
  /** Debug enclaves are refused unless this is true. */
  allowDebug?: boolean;
  /** TCB statuses accepted; `["UpToDate"]` when absent. */
  acceptedTcbStatuses?: string[];
}

const DEFAULT_STATUSES = ['UpToDate'];
const KEYS = new Set([
  'mrenclave',
  'mrsigner',
  'isvprodid',
  'minIsvsvn',
  'allowDebug',
  'acceptedTcbStatuses',
]);
const HEX32 = /^[0-9a-f]{64}$|^[0-9a-f]{96}$/;

/** Thrown for a policy document that is not a valid `ResourcePolicy`. */
export class PolicyError extends Error {
  override name = 'PolicyError';
}

function hexList(value: unknown, field: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new PolicyError(`${field}: empty list (nothing could ever match)`);
  return list.map((v) => {
    if (typeof v !== 'string' || !HEX32.test(v.toLowerCase())) {
      throw new PolicyError(`${field}: expected hex measurements (32 or 48 bytes)`);
    }
    return v.toLowerCase();
  });
}

function u16(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new PolicyError(`${field}: expected an integer 0..65535`);
  }
  return value;
}

/** Validates a parsed JSON policy; unknown fields are errors, so a typo cannot silently widen it. */
export function parsePolicy(value: unknown): ResourcePolicy {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PolicyError('a policy is a JSON object');
  }
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v))
    if (!KEYS.has(key)) throw new PolicyError(`unknown policy field "${key}"`);
  const policy: ResourcePolicy = {};
  if (v.mrenclave !== undefined) policy.mrenclave = hexList(v.mrenclave, 'mrenclave');
  if (v.mrsigner !== undefined) policy.mrsigner = hexList(v.mrsigner, 'mrsigner');
  if (v.isvprodid !== undefined) policy.isvprodid = u16(v.isvprodid, 'isvprodid');
  if (v.minIsvsvn !== undefined) policy.minIsvsvn = u16(v.minIsvsvn, 'minIsvsvn');
  if (v.allowDebug !== undefined) {
    if (typeof v.allowDebug !== 'boolean') throw new PolicyError('allowDebug: expected a boolean');
    policy.allowDebug = v.allowDebug;
  }
  if (v.acceptedTcbStatuses !== undefined) {
    const s = v.acceptedTcbStatuses;
    if (!Array.isArray(s) || s.some((x) => typeof x !== 'string')) {
      throw new PolicyError('acceptedTcbStatuses: expected a list of strings');
    }
    policy.acceptedTcbStatuses = s as string[];
  }
  return policy;
}

/** The first reason `claims` fail `policy`, or undefined when they meet it. */
export function policyFailure(claims: Claims, policy: ResourcePolicy): string | undefined {
  const list = (x: string | string[]): string[] => (Array.isArray(x) ? x : [x]);
  if (policy.mrenclave !== undefined && !list(policy.mrenclave).includes(claims.mrenclave)) {
    return `mrenclave ${claims.mrenclave} is not allowed`;
  }
  if (policy.mrsigner !== undefined && !list(policy.mrsigner).includes(claims.mrsigner)) {
    return `mrsigner ${claims.mrsigner || '(none)'} is not allowed`;
  }
  if (policy.isvprodid !== undefined && claims.isvprodid !== policy.isvprodid) {
    return `isvprodid ${claims.isvprodid} is not ${policy.isvprodid}`;
  }
  if (policy.minIsvsvn !== undefined && claims.isvsvn < policy.minIsvsvn) {
    return `isvsvn ${claims.isvsvn} is below ${policy.minIsvsvn}`;
  }
  if (claims.debug && policy.allowDebug !== true) return 'debug enclaves are not allowed';
  const statuses = policy.acceptedTcbStatuses ?? DEFAULT_STATUSES;
  if (!statuses.includes(claims.tcbStatus)) return `TCB status ${claims.tcbStatus} is not accepted`;
  return undefined;
}
