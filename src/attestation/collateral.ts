/**
 * DCAP collateral: what a verifier needs besides the quote. The JSON shape is that of Intel's PCCS /
 * `@phala/dcap-qvl` `Collateral` (snake_case fields, CRLs as hex DER, JSON bodies as their exact signed text).
 */
import { FormatError } from './bytes.ts';

export interface Collateral {
  /** PEM chain of the PCK CRL's issuer (PCK Platform/Processor CA, then the root). */
  pck_crl_issuer_chain: string;
  /** Root CA CRL, hex DER. */
  root_ca_crl: string;
  /** PCK CRL, hex DER. */
  pck_crl: string;
  /** PEM chain of the TCB signing certificate (leaf, then root). */
  tcb_info_issuer_chain: string;
  /** The exact signed text of the `tcbInfo` object. */
  tcb_info: string;
  /** Hex ECDSA P-256 signature (r || s) over `tcb_info`. */
  tcb_info_signature: string;
  qe_identity_issuer_chain: string;
  /** The exact signed text of the `enclaveIdentity` object. */
  qe_identity: string;
  qe_identity_signature: string;
}

export const TCB_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
] as const;
export type TcbStatus = (typeof TCB_STATUSES)[number];

export interface TcbLevel {
  sgxComponents: number[];
  pceSvn: number;
  /** TDX TCB info only: 16 TEE TCB SVN components. */
  tdxComponents?: number[];
  tcbDate: string;
  /** As published; statuses this verifier does not know are refused only if their level is the one matched. */
  tcbStatus: string;
  advisoryIds: string[];
}

/** An identity (QE, TDX module) with TCB levels keyed by ISVSVN. */
export interface IdentityTcbLevel {
  isvSvn: number;
  tcbDate: string;
  tcbStatus: string;
  advisoryIds: string[];
}

export interface TdxModuleIdentity {
  id: string;
  mrSigner: string;
  attributes: string;
  attributesMask: string;
  tcbLevels: IdentityTcbLevel[];
}

export interface TcbInfo {
  id: 'SGX' | 'TDX';
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  /** Upper-case hex as published; compare case-insensitively. */
  fmspc: string;
  pceId: string;
  tcbEvaluationDataNumber: number;
  tdxModule?: { mrSigner: string; attributes: string; attributesMask: string };
  tdxModuleIdentities?: TdxModuleIdentity[];
  tcbLevels: TcbLevel[];
}

export interface QeIdentity {
  id: 'QE' | 'TD_QE' | 'QVE';
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  tcbEvaluationDataNumber: number;
  miscselect: string;
  miscselectMask: string;
  attributes: string;
  attributesMask: string;
  mrsigner: string;
  isvprodid: number;
  tcbLevels: IdentityTcbLevel[];
}

function bad(what: string): never {
  throw new FormatError('bad-collateral', `collateral: ${what}`);
}

type Json = Record<string, unknown>;

function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${what} is not an object`);
  return v as Json;
}
function str(o: Json, k: string, what: string): string {
  const v = o[k];
  if (typeof v !== 'string') bad(`${what}.${k} is not a string`);
  return v;
}
function hexStr(o: Json, k: string, bytes: number, what: string): string {
  const v = str(o, k, what);
  if (v.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(v)) bad(`${what}.${k} is not ${bytes} bytes of hex`);
  return v;
}
function uint(o: Json, k: string, what: string, max = 0xffff): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
    bad(`${what}.${k} is not an integer`);
  return v;
}
function arr(o: Json, k: string, what: string): unknown[] {
  const v = o[k];
  if (!Array.isArray(v)) bad(`${what}.${k} is not an array`);
  return v;
}
function date(o: Json, k: string, what: string): Date {
  const d = new Date(str(o, k, what));
  if (Number.isNaN(d.getTime())) bad(`${what}.${k} is not a date`);
  return d;
}
function status(o: Json, what: string): string {
  const s = str(o, 'tcbStatus', what);
  if (s.length === 0) bad(`${what}.tcbStatus is empty`);
  return s;
}
function advisories(o: Json, what: string): string[] {
  if (o.advisoryIDs === undefined) return [];
  return arr(o, 'advisoryIDs', what).map((a) => (typeof a === 'string' ? a : bad(`${what}.advisoryIDs`)));
}
function components(o: Json, k: string, what: string): number[] {
  const list = arr(o, k, what);
  if (list.length !== 16) bad(`${what}.${k} must have 16 entries`);
  return list.map((c, i) => uint(obj(c, `${what}.${k}[${i}]`), 'svn', `${what}.${k}[${i}]`, 255));
}

function parseJson(text: string, what: string): Json {
  try {
    return obj(JSON.parse(text), what);
  } catch (e) {
    if (e instanceof FormatError) throw e;
    bad(`${what} is not JSON`);
  }
}

function identityLevels(o: Json, what: string): IdentityTcbLevel[] {
  const levels = arr(o, 'tcbLevels', what).map((l, i) => {
    const w = `${what}.tcbLevels[${i}]`;
    const level = obj(l, w);
    return {
      isvSvn: uint(obj(level.tcb, `${w}.tcb`), 'isvsvn', `${w}.tcb`),
      tcbDate: str(level, 'tcbDate', w),
      tcbStatus: status(level, w),
      advisoryIds: advisories(level, w),
    };
  });
  if (levels.length === 0) bad(`${what}.tcbLevels is empty`);
  return levels;
}

/** Parses and shape-checks the signed `tcbInfo` text (TCB info v2/v3, SGX or TDX). */
export function parseTcbInfo(text: string): TcbInfo {
  const o = parseJson(text, 'tcbInfo');
  const w = 'tcbInfo';
  const id = o.id === undefined ? 'SGX' : str(o, 'id', w);
  if (id !== 'SGX' && id !== 'TDX') bad(`tcbInfo.id "${id}" is unknown`);
  const version = uint(o, 'version', w);
  if (version !== 2 && version !== 3) bad(`tcbInfo.version ${version} is unsupported`);
  const tcbLevels = arr(o, 'tcbLevels', w).map((l, i) => {
    const lw = `${w}.tcbLevels[${i}]`;
    const level = obj(l, lw);
    const tcb = obj(level.tcb, `${lw}.tcb`);
    const sgxComponents =
      version === 2
        ? Array.from({ length: 16 }, (_, j) =>
            uint(tcb, `sgxtcbcomp${String(j + 1).padStart(2, '0')}svn`, lw, 255),
          )
        : components(tcb, 'sgxtcbcomponents', `${lw}.tcb`);
    return {
      sgxComponents,
      pceSvn: uint(tcb, 'pcesvn', `${lw}.tcb`),
      tdxComponents: id === 'TDX' ? components(tcb, 'tdxtcbcomponents', `${lw}.tcb`) : undefined,
      tcbDate: str(level, 'tcbDate', lw),
      tcbStatus: status(level, lw),
      advisoryIds: advisories(level, lw),
    };
  });
  if (tcbLevels.length === 0) bad('tcbInfo.tcbLevels is empty');
  const info: TcbInfo = {
    id,
    version,
    issueDate: date(o, 'issueDate', w),
    nextUpdate: date(o, 'nextUpdate', w),
    fmspc: hexStr(o, 'fmspc', 6, w),
    pceId: hexStr(o, 'pceId', 2, w),
    tcbEvaluationDataNumber: uint(o, 'tcbEvaluationDataNumber', w, 0xffffffff),
    tcbLevels,
  };
  if (id === 'TDX') {
    const m = obj(o.tdxModule, 'tcbInfo.tdxModule');
    const mw = 'tcbInfo.tdxModule';
    info.tdxModule = {
      mrSigner: hexStr(m, 'mrsigner', 48, mw),
      attributes: hexStr(m, 'attributes', 8, mw),
      attributesMask: hexStr(m, 'attributesMask', 8, mw),
    };
    if (o.tdxModuleIdentities !== undefined) {
      info.tdxModuleIdentities = arr(o, 'tdxModuleIdentities', w).map((x, i) => {
        const iw = `tcbInfo.tdxModuleIdentities[${i}]`;
        const ident = obj(x, iw);
        return {
          id: str(ident, 'id', iw),
          mrSigner: hexStr(ident, 'mrsigner', 48, iw),
          attributes: hexStr(ident, 'attributes', 8, iw),
          attributesMask: hexStr(ident, 'attributesMask', 8, iw),
          tcbLevels: identityLevels(ident, iw),
        };
      });
    }
  }
  return info;
}

/** Parses and shape-checks the signed `enclaveIdentity` text (QE identity v2). */
export function parseQeIdentity(text: string): QeIdentity {
  const o = parseJson(text, 'enclaveIdentity');
  const w = 'enclaveIdentity';
  const id = str(o, 'id', w);
  if (id !== 'QE' && id !== 'TD_QE' && id !== 'QVE') bad(`enclaveIdentity.id "${id}" is unknown`);
  const version = uint(o, 'version', w);
  if (version !== 2) bad(`enclaveIdentity.version ${version} is unsupported`);
  return {
    id,
    version,
    issueDate: date(o, 'issueDate', w),
    nextUpdate: date(o, 'nextUpdate', w),
    tcbEvaluationDataNumber: uint(o, 'tcbEvaluationDataNumber', w, 0xffffffff),
    miscselect: hexStr(o, 'miscselect', 4, w),
    miscselectMask: hexStr(o, 'miscselectMask', 4, w),
    attributes: hexStr(o, 'attributes', 16, w),
    attributesMask: hexStr(o, 'attributesMask', 16, w),
    mrsigner: hexStr(o, 'mrsigner', 32, w),
    isvprodid: uint(o, 'isvprodid', w),
    tcbLevels: identityLevels(o, w),
  };
}

/** Every field of the collateral, in one fixed order. */
export const COLLATERAL_FIELDS = [
  'pck_crl_issuer_chain',
  'root_ca_crl',
  'pck_crl',
  'tcb_info_issuer_chain',
  'tcb_info',
  'tcb_info_signature',
  'qe_identity_issuer_chain',
  'qe_identity',
  'qe_identity_signature',
] as const satisfies readonly (keyof Collateral)[];

/** Checks that a parsed JSON value has the nine collateral fields as strings. */
export function parseCollateral(value: unknown): Collateral {
  const o = obj(value, 'collateral');
  const out = {} as Collateral;
  for (const k of COLLATERAL_FIELDS) out[k] = str(o, k, 'collateral');
  return out;
}
