/**
 * The tenant's policy over verified SGX evidence: which enclaves (MRENCLAVE, MRSIGNER, product id,
 * minimum ISVSVN), whether a debug enclave is acceptable, which TCB statuses, and the expected report
 * data. Parsed strictly: an unknown key, a wrong type or a malformed value is an error, never ignored.
 */
import { toHex } from './bytes.ts';
import { TCB_STATUSES } from './collateral.ts';
import type { Quote } from './quote.ts';
import { SgxAttributeFlags, sgxAttributeFlags } from './report-body.ts';

/** A parsed policy; absent rules accept anything except debug (refused unless `allowDebug`). */
export interface Policy {
  /** Accepted MRENCLAVEs, lower-case hex. */
  mrenclave?: string[];
  /** Accepted MRSIGNERs, lower-case hex. */
  mrsigner?: string[];
  isvprodid?: number;
  minIsvsvn?: number;
  allowDebug: boolean;
  acceptedTcbStatuses: string[];
  /** Expected REPORTDATA, 64 bytes lower-case hex (a shorter policy value is zero-padded). */
  reportData?: string;
}

/** What `checkPolicy` reads of a verdict (a `DcapVerdict` has it). */
export interface PolicySubject {
  status: string;
  /** The Intel security advisories behind a status other than UpToDate. */
  advisoryIds?: string[];
  quote: Quote;
}

/** The TCB statuses accepted when no policy says otherwise: anything else needs an explicit opt-in. */
export const DEFAULT_TCB_STATUSES: readonly string[] = ['UpToDate'];

/** A policy file that is not well-formed. */
export class PolicyFormatError extends Error {
  override name = 'PolicyFormatError';
  readonly code = 'bad-policy';
}

export type PolicyRule =
  | 'evidence-type'
  | 'mrenclave'
  | 'mrsigner'
  | 'isvprodid'
  | 'isvsvn'
  | 'debug'
  | 'tcb-status'
  | 'report-data';

/** Verified evidence that the policy refuses; `code` is the rule. */
export class PolicyError extends Error {
  override name = 'PolicyError';
  constructor(
    readonly code: PolicyRule,
    message: string,
  ) {
    super(message);
  }
}

const KEYS = [
  'mrenclave',
  'mrsigner',
  'isvprodid',
  'minIsvsvn',
  'allowDebug',
  'acceptedTcbStatuses',
  'reportData',
] as const;
/** Bounds that keep hostile files small. */
const MAX_POLICY_TEXT = 1 << 20;
const MAX_LIST = 1024;

function bad(message: string): never {
  throw new PolicyFormatError(`policy: ${message}`);
}

function hexList(value: unknown, key: string): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LIST)
    bad(`${key} must be a list of 1..${MAX_LIST} hex strings`);
  return value.map((v, i) => {
    if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) bad(`${key}[${i}] is not 32 bytes of hex`);
    return v.toLowerCase();
  });
}

function u16(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff)
    bad(`${key} must be an integer 0..65535`);
  return value;
}

/**
 * Parses a policy from JSON text or an already-parsed value:
 * `{ mrenclave?: hex[], mrsigner?: hex[], isvprodid?: n, minIsvsvn?: n, allowDebug?: boolean,
 * acceptedTcbStatuses?: string[] (default ["UpToDate"]), reportData?: hex (up to 64 bytes) }`.
 */
export function parsePolicy(input: unknown): Policy {
  let value = input;
  if (typeof input === 'string') {
    if (input.length > MAX_POLICY_TEXT) bad(`larger than ${MAX_POLICY_TEXT} bytes`);
    try {
      value = JSON.parse(input);
    } catch {
      bad('not JSON');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('not a JSON object');
  const o = value as Record<string, unknown>;
  // Own keys only (a "__proto__" key in JSON is an own key, and unknown here).
  for (const k of Object.keys(o)) {
    if (!(KEYS as readonly string[]).includes(k)) bad(`unknown key ${JSON.stringify(k).slice(0, 80)}`);
  }
  const policy: Policy = { allowDebug: false, acceptedTcbStatuses: [...DEFAULT_TCB_STATUSES] };
  if (o.mrenclave !== undefined) policy.mrenclave = hexList(o.mrenclave, 'mrenclave');
  if (o.mrsigner !== undefined) policy.mrsigner = hexList(o.mrsigner, 'mrsigner');
  if (o.isvprodid !== undefined) policy.isvprodid = u16(o.isvprodid, 'isvprodid');
  if (o.minIsvsvn !== undefined) policy.minIsvsvn = u16(o.minIsvsvn, 'minIsvsvn');
  if (o.allowDebug !== undefined) {
    if (typeof o.allowDebug !== 'boolean') bad('allowDebug must be true or false');
    policy.allowDebug = o.allowDebug;
  }
  if (o.acceptedTcbStatuses !== undefined) {
    const list = o.acceptedTcbStatuses;
    if (!Array.isArray(list) || list.length === 0 || list.length > TCB_STATUSES.length)
      bad('acceptedTcbStatuses must be a non-empty list of TCB statuses');
    policy.acceptedTcbStatuses = list.map((s, i) => {
      // Revoked is never accepted: the verifier refuses it before any policy.
      if (typeof s !== 'string' || !TCB_STATUSES.includes(s as never) || s === 'Revoked')
        bad(`acceptedTcbStatuses[${i}] is not an acceptable TCB status`);
      return s;
    });
  }
  if (o.reportData !== undefined) {
    const hex = o.reportData;
    if (typeof hex !== 'string' || !/^(?:[0-9a-fA-F]{2}){1,64}$/.test(hex))
      bad('reportData must be 1..64 bytes of hex');
    policy.reportData = hex.toLowerCase().padEnd(128, '0');
  }
  return policy;
}

/** Checks verified evidence against the policy; throws a `PolicyError` naming the first rule broken. */
export function checkPolicy(verdict: PolicySubject, policy: Policy): void {
  const { quote } = verdict;
  if (quote.kind !== 'sgx')
    throw new PolicyError('evidence-type', `policy: ${quote.kind} evidence, expected an SGX quote`);
  const body = quote.body;
  const mrenclave = toHex(body.mrEnclave);
  const mrsigner = toHex(body.mrSigner);
  if (policy.mrenclave && !policy.mrenclave.includes(mrenclave))
    throw new PolicyError('mrenclave', `policy: MRENCLAVE ${mrenclave} is not allowed`);
  if (policy.mrsigner && !policy.mrsigner.includes(mrsigner))
    throw new PolicyError('mrsigner', `policy: MRSIGNER ${mrsigner} is not allowed`);
  if (policy.isvprodid !== undefined && body.isvProdId !== policy.isvprodid)
    throw new PolicyError('isvprodid', `policy: ISVPRODID ${body.isvProdId}, expected ${policy.isvprodid}`);
  if (policy.minIsvsvn !== undefined && body.isvSvn < policy.minIsvsvn)
    throw new PolicyError('isvsvn', `policy: ISVSVN ${body.isvSvn} is below the minimum ${policy.minIsvsvn}`);
  if (!policy.allowDebug && (sgxAttributeFlags(body) & SgxAttributeFlags.DEBUG) !== 0n)
    throw new PolicyError(
      'debug',
      'policy: the enclave is a debug enclave (its memory is readable by the host)',
    );
  checkTcbStatus(verdict, policy.acceptedTcbStatuses);
  if (policy.reportData !== undefined && toHex(body.reportData) !== policy.reportData)
    throw new PolicyError('report-data', 'policy: the report data is not the expected value');
}

/**
 * Refuses a TCB status outside `accepted` (for any TEE), naming the advisories that apply: a platform
 * that needs configuration or software hardening is only trusted by a policy that says so.
 */
export function checkTcbStatus(
  verdict: Omit<PolicySubject, 'quote'>,
  accepted: readonly string[] = DEFAULT_TCB_STATUSES,
): void {
  if (accepted.includes(verdict.status)) return;
  const advisories = verdict.advisoryIds?.length ? verdict.advisoryIds.join(', ') : 'none listed';
  throw new PolicyError(
    'tcb-status',
    `policy: TCB status ${verdict.status} is not accepted (${accepted.join(', ')}); ` +
      `advisories: ${advisories}; accepting it needs a policy listing it in acceptedTcbStatuses`,
  );
}
