/**
 * `cloister sign`, `cloister quote` and `cloister attest verify | collateral`: enclave signing
 * (SIGSTRUCT), simulated quotes, and verification of DCAP evidence against collateral and a tenant
 * policy. Verification failures exit 1, usage errors 2.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { FormatError, toHex } from '../attestation/bytes.ts';
import { VerificationError } from '../attestation/errors.ts';
import {
  DEFAULT_TCB_STATUSES,
  PolicyError,
  PolicyFormatError,
  checkPolicy,
  checkTcbStatus,
  parsePolicy,
} from '../attestation/policy.ts';
import type { Policy } from '../attestation/policy.ts';
import { SgxAttributeFlags, sgxAttributeFlags } from '../attestation/report-body.ts';
import { bcdDate, signSigstruct, verifySigstruct } from '../attestation/sigstruct.ts';
import type { Sigstruct } from '../attestation/sigstruct.ts';
import { verifyDcapQuote } from '../attestation/verify-dcap.ts';
import { evidenceKind } from '../attestation/evidence-kind.ts';
import { SNP_POLICY_DEBUG, SNP_REPORT_SIZE } from '../attestation/snp-report.ts';
import { verifySnpReport } from '../attestation/verify-snp.ts';
import type { DcapVerdict } from '../attestation/verify-dcap.ts';
import { measureRun } from '../host/launcher.ts';
import { SimPlatform, SimPlatformError } from '../tee/sim/platform.ts';
import type { EnclaveIdentity } from '../tee/sim/platform.ts';
import { SimQuotingEnclave, simCollateral } from '../tee/sim/quoting.ts';
import { planCommandLine } from './launch-plan.ts';
import { addMeasuredOptions } from './run-command-options.ts';
import { UsageError } from './run-options.ts';
import type { RunOptions } from './run-options.ts';

const SIM_EVIDENCE =
  'SIMULATED evidence: signed by the Cloister sim platform root, not Intel. It proves nothing about hardware ' +
  'or isolation: whoever holds the sim platform file can forge it.';
const MAX_INPUT = 1 << 20;

function inputFile(option: string, path: string): Buffer {
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`${option} ${path}: no such file`);
  if (statSync(path).size > MAX_INPUT) throw new UsageError(`${option} ${path}: larger than 1 MiB`);
  return readFileSync(path);
}

function u16(option: string, text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 0xffff) throw new UsageError(`${option} must be 0..65535`);
  return Number(text);
}

/** Report data from hex: 1..64 bytes, zero-padded to 64 (as a policy's `reportData` is). */
function reportData(text: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2}){1,64}$/.test(text))
    throw new UsageError('--report-data must be 1..64 bytes of hex');
  const out = new Uint8Array(64);
  out.set(Buffer.from(text, 'hex'));
  return out;
}

function atDate(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const d = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(d.getTime()))
    throw new UsageError(`--at: ${JSON.stringify(text)} is not an ISO date such as 2025-07-01T00:00:00Z`);
  return d;
}

/** MRENCLAVE exactly as `cloister measure` computes it (a .wasm, or a disk image and the program in it). */
async function measure(
  program: string | undefined,
  args: string[],
  options: RunOptions,
): Promise<Uint8Array> {
  const plan = await planCommandLine(program, args, options);
  return measureRun(plan.wasm, plan.config);
}

interface SignOptions extends RunOptions {
  key?: string;
  output?: string;
  show?: string;
  isvprodid?: string;
  isvsvn?: string;
  debug?: boolean;
  generateKey?: boolean;
}

async function sign(program: string | undefined, args: string[], o: SignOptions): Promise<void> {
  if (o.show !== undefined) {
    if (program !== undefined) throw new UsageError('--show reads a SIGSTRUCT: give no PROGRAM with it');
    process.stdout.write(showSigstruct(o.show));
    return;
  }
  if (o.key === undefined) throw new UsageError("required option '--key <PEM>' not specified");
  if (o.output === undefined) throw new UsageError("required option '-o, --output <FILE>' not specified");
  // Measure first: a wrong program or option must not leave a freshly generated key behind.
  const mrenclave = await measure(program, args, o);
  if (o.generateKey) {
    if (existsSync(o.key)) throw new UsageError(`--generate-key: ${o.key} exists; not overwriting a key`);
    // SIGSTRUCT keys are RSA-3072 with e = 3.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 3 });
    writeFileSync(o.key, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  }
  const key = inputFile('--key', o.key).toString();
  const now = new Date();
  const flags = SgxAttributeFlags.MODE64BIT | (o.debug ? SgxAttributeFlags.DEBUG : 0n);
  const attributes = (f: bigint, x: bigint): Uint8Array => {
    const b = Buffer.alloc(16);
    b.writeBigUInt64LE(f, 0);
    b.writeBigUInt64LE(x, 8);
    return b;
  };
  let sig: Uint8Array;
  try {
    sig = signSigstruct(
      {
        debugType: false,
        vendor: 0,
        date: bcdDate(now.getUTCFullYear(), now.getUTCMonth() + 1, now.getUTCDate()),
        hwVersion: 0,
        miscSelect: 0,
        miscMask: 0xffffffff,
        isvFamilyId: new Uint8Array(16),
        // DEBUG is in the mask: the signer decides whether the enclave may be debuggable.
        attributes: attributes(flags, 3n),
        attributeMask: attributes(0xffffffffffffffffn, 0n),
        enclaveHash: mrenclave,
        isvExtProdId: new Uint8Array(16),
        isvProdId: o.isvprodid === undefined ? 0 : u16('--isvprodid', o.isvprodid),
        isvSvn: o.isvsvn === undefined ? 0 : u16('--isvsvn', o.isvsvn),
      },
      key,
    );
  } catch (error) {
    throw new UsageError(`--key ${o.key}: ${(error as Error).message}`);
  }
  writeFileSync(o.output, sig);
  process.stdout.write(describeSigstruct(verifySigstruct(sig)));
}

/** Every field of a SIGSTRUCT file, as `gramine-sgx-sigstruct-view` prints them, after checking its signature. */
function showSigstruct(path: string): string {
  const bytes = inputFile('--show', path);
  let s: Sigstruct;
  try {
    s = verifySigstruct(bytes);
  } catch (error) {
    throw new UsageError(`--show ${path}: ${(error as Error).message}`);
  }
  const u64 = (b: Uint8Array, at: number): string =>
    `0x${new DataView(b.buffer, b.byteOffset).getBigUint64(at, true).toString(16).padStart(16, '0')}`;
  const hex32 = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
  const date = s.date.toString(16).padStart(8, '0');
  return (
    `type            ${s.debugType ? 'debug signer' : 'production'}\n` +
    `vendor          ${hex32(s.vendor)}\n` +
    `date            ${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}\n` +
    `modulus (LE)    ${toHex(s.modulus).slice(0, 32)}… (3072 bits)\n` +
    `exponent        ${s.exponent}\n` +
    `miscselect      ${hex32(s.miscSelect)}\n` +
    `miscmask        ${hex32(s.miscMask)}\n` +
    `isvfamilyid     ${toHex(s.isvFamilyId)}\n` +
    `attributes      flags ${u64(s.attributes, 0)}  xfrm ${u64(s.attributes, 8)}\n` +
    `attributemask   flags ${u64(s.attributeMask, 0)}  xfrm ${u64(s.attributeMask, 8)}\n` +
    `isvextprodid    ${toHex(s.isvExtProdId)}\n` +
    `isvprodid       ${s.isvProdId}\n` +
    `isvsvn          ${s.isvSvn}\n` +
    `mrenclave       ${toHex(s.enclaveHash)}\n` +
    `mrsigner        ${toHex(s.mrSigner)}\n` +
    `debug enclave   ${debugEnclave(s) ? 'allowed' : 'no'}\n` +
    `signature       verifies (RSA-3072, e=3; Q1/Q2 consistent)\n`
  );
}

/** ATTRIBUTES.DEBUG: the signer lets the enclave run as a debug enclave. */
function debugEnclave(s: Sigstruct): boolean {
  return (new DataView(s.attributes.buffer, s.attributes.byteOffset).getBigUint64(0, true) & 2n) !== 0n;
}

function describeSigstruct(s: Sigstruct): string {
  const debug = debugEnclave(s);
  return (
    `mrenclave  ${toHex(s.enclaveHash)}\nmrsigner   ${toHex(s.mrSigner)}\n` +
    `isvprodid  ${s.isvProdId}\nisvsvn     ${s.isvSvn}\ndebug      ${debug ? 'yes' : 'no'}\n`
  );
}

/** The identity SGX would give the enclave at EINIT: the measurement, vouched for by the SIGSTRUCT. */
function enclaveIdentity(mrenclave: Uint8Array, sigPath: string): EnclaveIdentity {
  let s: Sigstruct;
  try {
    s = verifySigstruct(inputFile('--sig', sigPath));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--sig ${sigPath}: ${(error as Error).message}`);
  }
  if (toHex(s.enclaveHash) !== toHex(mrenclave)) {
    throw new UsageError(
      `--sig ${sigPath} was signed for MRENCLAVE ${toHex(s.enclaveHash)}, this program measures ${toHex(mrenclave)}`,
    );
  }
  const a = new DataView(s.attributes.buffer, s.attributes.byteOffset, 16);
  return {
    mrenclave,
    mrsigner: s.mrSigner,
    isvprodid: s.isvProdId,
    isvsvn: s.isvSvn,
    // EINIT sets INIT.
    attributes: { flags: a.getBigUint64(0, true) | SgxAttributeFlags.INIT, xfrm: a.getBigUint64(8, true) },
    miscselect: s.miscSelect,
  };
}

async function openPlatform(create: boolean): Promise<SimPlatform> {
  try {
    return await SimPlatform.open({ create });
  } catch (error) {
    if (error instanceof SimPlatformError) throw new UsageError(error.message);
    throw error;
  }
}

interface QuoteOptions extends RunOptions {
  program: string;
  sig: string;
  reportData: string;
  output: string;
}

async function quote(args: string[], o: QuoteOptions): Promise<void> {
  const data = reportData(o.reportData);
  const identity = enclaveIdentity(await measure(o.program, args, o), o.sig);
  const platform = await openPlatform(true);
  const qe = new SimQuotingEnclave(platform);
  // What the enclave would do: EREPORT targeted at the QE, which checks it and signs the quote.
  const bytes = qe.quote(platform.ereport(identity, qe.targetInfo(), data));
  writeFileSync(o.output, bytes);
  process.stderr.write(`cloister: warning: ${SIM_EVIDENCE} (platform ${platform.path})\n`);
  process.stdout.write(`${toHex(identity.mrenclave)}\n`);
}

interface VerifyOptions {
  collateral?: string;
  vcek?: string;
  certChain?: string;
  arkCrl?: string;
  allowDebug?: boolean;
  policy?: string;
  at?: string;
  json?: boolean;
  trustSimRoot?: boolean;
}

function jsonFile(option: string, path: string): unknown {
  try {
    return JSON.parse(inputFile(option, path).toString());
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${option} ${path}: not JSON`);
  }
}

function summary(v: DcapVerdict): Record<string, unknown> {
  const common = { status: v.status, advisoryIds: v.advisoryIds, fmspc: v.fmspc };
  if (v.quote.kind !== 'sgx') return { ...common, tee: 'tdx', mrtd: toHex(v.quote.body.mrTd) };
  const b = v.quote.body;
  return {
    ...common,
    tee: 'sgx',
    mrenclave: toHex(b.mrEnclave),
    mrsigner: toHex(b.mrSigner),
    isvprodid: b.isvProdId,
    isvsvn: b.isvSvn,
    debug: (sgxAttributeFlags(b) & SgxAttributeFlags.DEBUG) !== 0n,
    reportData: toHex(b.reportData),
  };
}

const LABELS: Record<string, string> = {
  advisoryIds: 'advisories',
  reportData: 'report data',
  hostData: 'host data',
  reportedTcb: 'reported TCB',
  chipId: 'chip id',
};

/** The verdict as `label  value` lines; the first says whether the evidence is simulated. */
function textVerdict(out: Record<string, unknown>): string {
  if (out.status === undefined) return '';
  const lines = out.simulated
    ? ['evidence    SIMULATED (sim platform root, not Intel: nothing about hardware)']
    : [];
  for (const [k, v] of Object.entries(out)) {
    if (['ok', 'error', 'simulated'].includes(k)) continue;
    const value = Array.isArray(v)
      ? v.join(', ') || 'none'
      : typeof v === 'boolean'
        ? v
          ? 'yes'
          : 'no'
        : String(v);
    lines.push(`${(LABELS[k] ?? k).padEnd(12)}${value}`);
  }
  lines.push(out.ok ? 'verified' : 'NOT verified');
  return `${lines.join('\n')}\n`;
}

/** An SEV-SNP report: VCEK → ASK → ARK (ARK-Milan pinned), then the report's signature; debug guests refused. */
async function verifySnp(bytes: Uint8Array, o: VerifyOptions): Promise<number> {
  if (o.collateral !== undefined || o.trustSimRoot) {
    throw new UsageError(
      'an SEV-SNP report takes --vcek and --cert-chain, not --collateral or --trust-sim-root',
    );
  }
  if (o.policy !== undefined) {
    throw new UsageError(
      'tenant policies cover SGX quotes; for an SEV-SNP report compare the printed measurement',
    );
  }
  if (o.vcek === undefined || o.certChain === undefined) {
    throw new UsageError(
      "an SEV-SNP report needs --vcek FILE and --cert-chain FILE (AMD KDS's vcek and cert_chain)",
    );
  }
  const options = {
    vcek: new Uint8Array(inputFile('--vcek', o.vcek)),
    caChainPem: inputFile('--cert-chain', o.certChain).toString(),
    arkCrl: o.arkCrl === undefined ? undefined : new Uint8Array(inputFile('--ark-crl', o.arkCrl)),
    at: atDate(o.at),
  };
  const out: Record<string, unknown> = { ok: false, simulated: false };
  let failure: { code: string; message: string } | undefined;
  try {
    const { report } = await verifySnpReport(bytes, options);
    const tcb = report.reportedTcb;
    Object.assign(out, {
      status: 'signature and VCEK chain verified',
      type: 'SEV-SNP',
      measurement: toHex(report.measurement),
      reportData: toHex(report.reportData),
      hostData: toHex(report.hostData),
      vmpl: report.vmpl,
      debug: (report.policy & SNP_POLICY_DEBUG) !== 0n,
      reportedTcb: `bootloader ${tcb.bootloader}, tee ${tcb.tee}, snp ${tcb.snp}, microcode ${tcb.microcode}`,
      chipId: toHex(report.chipId),
    });
    if (out.debug && !o.allowDebug) {
      throw new PolicyError(
        'debug',
        'the guest policy allows debugging (its memory is readable by the host); --allow-debug accepts it',
      );
    }
    out.ok = true;
  } catch (error) {
    if (!(error instanceof VerificationError || error instanceof FormatError || error instanceof PolicyError))
      throw error;
    failure = { code: error.code, message: error.message };
    out.error = failure;
  }
  if (o.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  else process.stdout.write(textVerdict(out));
  if (failure === undefined) {
    if (out.debug) process.stderr.write('cloister: warning: a debug guest, accepted by --allow-debug\n');
    return 0;
  }
  process.stderr.write(`cloister: error: verification failed (${failure.code}): ${failure.message}\n`);
  return 1;
}

async function verify(quotePath: string, o: VerifyOptions): Promise<number> {
  const quoteBytes = new Uint8Array(inputFile('quote', quotePath));
  const kind = evidenceKind(quoteBytes);
  if (kind === null) {
    process.stderr.write(
      `cloister: error: verification failed (not-evidence): ${quotePath} is not a quote or report ` +
        `(neither an SGX/TDX DCAP quote, version 3 or 4 with an ECDSA-256 key, nor a ${SNP_REPORT_SIZE}-byte SEV-SNP report)\n`,
    );
    return 1;
  }
  if (kind === 'snp') return verifySnp(quoteBytes, o);
  if (o.collateral === undefined) throw new UsageError('a DCAP quote needs --collateral FILE');
  const collateral = jsonFile('--collateral', o.collateral);
  let policy: Policy | undefined;
  if (o.policy !== undefined) {
    try {
      policy = parsePolicy(jsonFile('--policy', o.policy));
    } catch (error) {
      if (error instanceof PolicyFormatError) throw new UsageError(`--policy ${o.policy}: ${error.message}`);
      throw error;
    }
  }
  const at = atDate(o.at);
  const trustedRoot = o.trustSimRoot ? (await openPlatform(false)).rootCertificateDer : undefined;
  // `simulated`: the evidence verified up to the sim root (only ever trusted with --trust-sim-root).
  const out: Record<string, unknown> = { ok: false, simulated: false };
  let failure: { code: string; message: string } | undefined;
  let accepted: string | undefined;
  try {
    const verdict = await verifyDcapQuote(quoteBytes, { collateral, at, trustedRoot });
    out.simulated = trustedRoot !== undefined;
    Object.assign(out, summary(verdict));
    // Without --policy only an UpToDate platform is accepted (as Gramine's verifier defaults).
    if (policy !== undefined) checkPolicy(verdict, policy);
    else checkTcbStatus(verdict, DEFAULT_TCB_STATUSES);
    out.policy = policy === undefined ? `default (${DEFAULT_TCB_STATUSES.join(', ')} only)` : 'met';
    out.ok = true;
    if (verdict.status !== 'UpToDate') {
      accepted = `TCB status ${verdict.status} accepted by --policy; advisories that apply: ${verdict.advisoryIds.join(', ') || 'none listed'}`;
    }
  } catch (error) {
    if (!(error instanceof VerificationError || error instanceof FormatError || error instanceof PolicyError))
      throw error;
    failure = { code: error.code, message: error.message };
    out.error = failure;
    if (error instanceof PolicyError) out.policy = 'refused';
  }
  if (o.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  else process.stdout.write(textVerdict(out));
  if (out.simulated) process.stderr.write(`cloister: warning: ${SIM_EVIDENCE}\n`);
  if (accepted !== undefined) process.stderr.write(`cloister: warning: ${accepted}\n`);
  if (failure !== undefined) {
    process.stderr.write(`cloister: error: verification failed (${failure.code}): ${failure.message}\n`);
    return 1;
  }
  return 0;
}

/** Adds `cloister sign`, `cloister quote` and `cloister attest verify | collateral` to the program. */
export function registerAttestCommands(program: Command): void {
  addMeasuredOptions(
    program
      .command('sign')
      .description(
        'sign an enclave: a SIGSTRUCT whose ENCLAVEHASH is the measurement of PROGRAM with its run options;\n' +
          'or, with --show SIG, print the fields of an existing SIGSTRUCT',
      )
      .argument('[PROGRAM]', 'the .wasm file or disk image (required unless --show)')
      .argument('[ARGS...]', 'arguments for the program, after -- (they are measured)')
      .option('--show <SIG>', 'print every field of a SIGSTRUCT file after checking its signature')
      .option('--key <PEM>', 'the signer key: RSA-3072 with public exponent 3 (required to sign)')
      .option('-o, --output <FILE>', 'SIGSTRUCT file to write, 1808 bytes (required to sign)')
      .option('--generate-key', 'create the --key file first (refuses to overwrite one)')
      .option('--isvprodid <N>', 'product id (default 0)')
      .option('--isvsvn <N>', 'security version (default 0)')
      .option('--debug', 'sign a debug enclave (its memory is readable by the host; policies refuse it)'),
  ).action((file: string | undefined, args: string[], options: SignOptions) => sign(file, args, options));

  addMeasuredOptions(
    program
      .command('quote')
      .description(
        'simulated quote: the sim platform quotes the identity of --program (measured with its run options) ' +
          'as signed by --sig; the program is not run',
      )
      .argument('[ARGS...]', 'arguments for the program, after -- (they are measured)')
      .requiredOption('--program <FILE>', 'the .wasm file')
      .requiredOption('--sig <FILE>', 'its SIGSTRUCT (cloister sign)')
      .requiredOption('--report-data <HEX>', '1..64 bytes to bind, zero-padded to 64')
      .requiredOption('-o, --output <FILE>', 'quote file to write'),
  ).action((args: string[], options: QuoteOptions) => quote(args, options));

  const attest = program.command('attest').description('verify attestation evidence');
  attest
    .command('verify')
    .description(
      'verify a DCAP quote (exit 0 only when it verifies and meets --policy; default: TCB status UpToDate only)\n' +
        'or an SEV-SNP report (VCEK chain to the pinned ARK-Milan; debug guests refused)',
    )
    .argument('<EVIDENCE>', 'quote file (SGX v3 or TDX v4) or SEV-SNP attestation report (1184 bytes)')
    .option('--collateral <FILE>', 'DCAP: collateral JSON (PCCS shape)')
    .option('--vcek <FILE>', "SNP: the chip's VCEK certificate (DER or PEM)")
    .option('--cert-chain <FILE>', 'SNP: the ASK (and ARK) as PEM, as AMD KDS serves cert_chain')
    .option('--ark-crl <FILE>', "SNP: the ARK's CRL (DER); the ASK must not be revoked")
    .option('--allow-debug', 'SNP: accept a guest whose policy allows debugging')
    .option('--policy <FILE>', 'tenant policy JSON (acceptedTcbStatuses opts in to other TCB statuses)')
    .option('--at <ISO>', 'verification time (default now)')
    .option('--json', 'print the verdict as JSON')
    .addOption(
      new Option('--trust-sim-root', "trust the local sim platform's root CA: accepts SIMULATED evidence"),
    )
    .action(async (file: string, options: VerifyOptions) => {
      process.exitCode = await verify(file, options);
    });
  attest
    .command('collateral')
    .description("export the sim platform's collateral (CRLs, TCB info, QE identity under the sim root)")
    .requiredOption('-o, --output <FILE>', 'collateral JSON to write')
    .option('--at <ISO>', 'issue time (default now)')
    .option('--days <N>', 'validity in days (default 30)')
    .action(async (options: { output: string; at?: string; days?: string }) => {
      const days = options.days === undefined ? undefined : u16('--days', options.days);
      const collateral = await simCollateral(await openPlatform(true), { at: atDate(options.at), days });
      writeFileSync(options.output, `${JSON.stringify(collateral, null, 2)}\n`);
    });
}
