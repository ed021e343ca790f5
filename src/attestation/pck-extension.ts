/**
 * The Intel SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1, "SGX PCK Certificate and
 * CRL Profile"): the platform's FMSPC, PCE-ID and the TCB (CPUSVN components, PCESVN) it was issued for.
 */
import { FormatError } from './bytes.ts';
import { DerTag, derChildren, derOid, derUint, parseDer } from './der.ts';
import type { Der } from './der.ts';

export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';

export interface PckExtension {
  ppid: Uint8Array;
  /** The 16 SGX TCB component SVNs (OIDs .2.1 to .2.16). */
  cpuSvnComponents: number[];
  pceSvn: number;
  cpuSvn: Uint8Array;
  pceId: Uint8Array;
  fmspc: Uint8Array;
  /** 0 = Standard, 1 = Scalable, 2 = Scalable with integrity. */
  sgxType: number;
}

/** SEQUENCE { OID, value } pairs of a SEQUENCE, keyed by OID. */
function pairs(seq: Der, where: string): Map<string, Der> {
  if (seq.tag !== DerTag.SEQUENCE) throw new FormatError('bad-pck-extension', `${where}: not a SEQUENCE`);
  const out = new Map<string, Der>();
  for (const item of derChildren(seq.content)) {
    const kids = item.tag === DerTag.SEQUENCE ? derChildren(item.content) : [];
    if (kids.length !== 2 || kids[0].tag !== DerTag.OID) {
      throw new FormatError('bad-pck-extension', `${where}: entry is not SEQUENCE { OID, value }`);
    }
    out.set(derOid(kids[0].content), kids[1]);
  }
  return out;
}

function field(map: Map<string, Der>, oid: string, tag: number, name: string): Uint8Array {
  const v = map.get(oid);
  if (v === undefined || v.tag !== tag)
    throw new FormatError('bad-pck-extension', `SGX extension: ${name} missing`);
  return v.content;
}

function octets(map: Map<string, Der>, oid: string, length: number, name: string): Uint8Array {
  const v = field(map, oid, DerTag.OCTET_STRING, name);
  if (v.length !== length)
    throw new FormatError('bad-pck-extension', `SGX extension: ${name} must be ${length} bytes`);
  return v;
}

/** Parses the SGX extension's value (the DER inside extnValue). */
export function parsePckExtension(extnValue: Uint8Array): PckExtension {
  const top = pairs(parseDer(extnValue), 'SGX extension');
  const base = SGX_EXTENSION_OID;
  const tcbDer = top.get(`${base}.2`);
  if (tcbDer === undefined) throw new FormatError('bad-pck-extension', 'SGX extension: TCB missing');
  const tcb = pairs(tcbDer, 'SGX extension TCB');
  const cpuSvnComponents = Array.from({ length: 16 }, (_, i) =>
    derUint(field(tcb, `${base}.2.${i + 1}`, DerTag.INTEGER, `TCB component ${i + 1}`)),
  );
  return {
    ppid: octets(top, `${base}.1`, 16, 'PPID'),
    cpuSvnComponents,
    pceSvn: derUint(field(tcb, `${base}.2.17`, DerTag.INTEGER, 'PCESVN')),
    cpuSvn: octets(tcb, `${base}.2.18`, 16, 'CPUSVN'),
    pceId: octets(top, `${base}.3`, 2, 'PCE-ID'),
    fmspc: octets(top, `${base}.4`, 6, 'FMSPC'),
    sgxType: derUint(field(top, `${base}.5`, DerTag.ENUMERATED, 'SGX Type')),
  };
}
