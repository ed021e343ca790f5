/**
 * TCB level matching and status convergence, as Intel's QVL does it: the first (highest) level the
 * platform meets gives its status; the QE's and TDX module's own statuses can only make it worse.
 */
import { fromHex, toHex } from './bytes.ts';
import { TCB_STATUSES } from './collateral.ts';
import type { IdentityTcbLevel, TcbInfo, TcbLevel, TcbStatus } from './collateral.ts';
import { VerificationError } from './errors.ts';
import type { PckExtension } from './pck-extension.ts';
import type { TdReportBody } from './report-body.ts';

/** A status and the advisories explaining it. */
export interface TcbVerdict {
  status: TcbStatus;
  advisoryIds: string[];
}

/** The verdict of a matched level; a status this verifier does not know is refused, not guessed at. */
export function levelVerdict(level: { tcbStatus: string; advisoryIds: string[] }, what: string): TcbVerdict {
  if (!(TCB_STATUSES as readonly string[]).includes(level.tcbStatus)) {
    throw new VerificationError(
      'tcb-status-unknown',
      `${what}: TCB status "${level.tcbStatus}" is not one this verifier knows`,
    );
  }
  return { status: level.tcbStatus as TcbStatus, advisoryIds: level.advisoryIds };
}

function atLeast(actual: ArrayLike<number>, required: number[], from = 0): boolean {
  for (let i = from; i < required.length; i++) if (actual[i] < required[i]) return false;
  return true;
}

/**
 * The platform's TCB level: the first level whose SGX components and PCESVN the PCK certificate meets
 * (and, for TDX, whose TDX components TEE_TCB_SVN meets; with a TDX module major version > 0 the first
 * two bytes are the module's and are judged by its identity instead, so they are skipped here).
 */
export function matchPlatformTcb(info: TcbInfo, pck: PckExtension, teeTcbSvn?: Uint8Array): TcbLevel {
  const tdxFrom = teeTcbSvn !== undefined && teeTcbSvn[1] > 0 ? 2 : 0;
  const level = info.tcbLevels.find(
    (l) =>
      atLeast(pck.cpuSvnComponents, l.sgxComponents) &&
      pck.pceSvn >= l.pceSvn &&
      (teeTcbSvn === undefined ||
        (l.tdxComponents !== undefined && atLeast(teeTcbSvn, l.tdxComponents, tdxFrom))),
  );
  if (level === undefined) {
    throw new VerificationError(
      'tcb-level-not-found',
      `no TCB level of FMSPC ${info.fmspc} is met by CPUSVN ${pck.cpuSvnComponents.join(',')} PCESVN ${pck.pceSvn}` +
        (teeTcbSvn ? ` TEE_TCB_SVN ${toHex(teeTcbSvn)}` : ''),
    );
  }
  return level;
}

/** The first identity TCB level whose ISVSVN the given SVN meets, or undefined. */
export function matchIdentityTcb(levels: IdentityTcbLevel[], isvSvn: number): IdentityTcbLevel | undefined {
  return levels.find((l) => isvSvn >= l.isvSvn);
}

/**
 * Combines the platform status with a component's (QE, TDX module): an out-of-date component makes an
 * up-to-date platform OutOfDate and a configuration-needing one OutOfDateConfigurationNeeded; a revoked
 * one revokes. Advisories are merged.
 */
export function convergeTcb(platform: TcbVerdict, component: TcbVerdict): TcbVerdict {
  const advisoryIds = [...new Set([...platform.advisoryIds, ...component.advisoryIds])];
  let status = platform.status;
  if (component.status === 'Revoked') status = 'Revoked';
  else if (component.status === 'OutOfDate') {
    if (status === 'UpToDate' || status === 'SWHardeningNeeded') status = 'OutOfDate';
    else if (status === 'ConfigurationNeeded' || status === 'ConfigurationAndSWHardeningNeeded') {
      status = 'OutOfDateConfigurationNeeded';
    }
  }
  return { status, advisoryIds };
}

/** Whether `actual` equals the expected hex under the hex mask, byte by byte. */
export function maskedEqual(actual: Uint8Array, expectedHex: string, maskHex: string): boolean {
  const expected = fromHex(expectedHex);
  const mask = fromHex(maskHex);
  return actual.length === mask.length && mask.every((m, i) => (actual[i] & m) === (expected[i] & m));
}

/**
 * The TDX module's identity: MRSIGNERSEAM and masked SEAMATTRIBUTES must match; for module major
 * version > 0 (TEE_TCB_SVN[1]) the `TDX_<major>` identity's levels give a status from TEE_TCB_SVN[0].
 */
export function matchTdxModule(info: TcbInfo, body: TdReportBody): TcbVerdict | undefined {
  const major = body.teeTcbSvn[1];
  const versioned =
    major === 0
      ? undefined
      : info.tdxModuleIdentities?.find(
          (m) => m.id.toUpperCase() === `TDX_${major.toString(16).padStart(2, '0').toUpperCase()}`,
        );
  const identity = major === 0 ? info.tdxModule : versioned;
  if (identity === undefined) {
    throw new VerificationError(
      'tdx-module-mismatch',
      `TCB info has no identity for TDX module version ${major}`,
    );
  }
  if (toHex(body.mrSignerSeam) !== identity.mrSigner.toLowerCase()) {
    throw new VerificationError('tdx-module-mismatch', 'MRSIGNERSEAM does not match the TDX module identity');
  }
  if (!maskedEqual(body.seamAttributes, identity.attributes, identity.attributesMask)) {
    throw new VerificationError('tdx-module-mismatch', 'SEAMATTRIBUTES do not match the TDX module identity');
  }
  if (versioned === undefined) return undefined;
  const level = matchIdentityTcb(versioned.tcbLevels, body.teeTcbSvn[0]);
  if (level === undefined) {
    throw new VerificationError(
      'tcb-level-not-found',
      `TDX module ISVSVN ${body.teeTcbSvn[0]} is below every level`,
    );
  }
  return levelVerdict(level, 'TDX module');
}
