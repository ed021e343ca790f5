/**
 * The platform of an enclave that Cloister runs inside a confidential VM (`tdx`, `snp`). The VM is
 * the hardware-isolated unit; inside it, the enclave's REPORTs only need to reach this process's
 * quote service intact, so they are MACed with a key that lives in this process's memory and is
 * made per enclave. A quote request turns the REPORT's MRENCLAVE and report data into the VM's
 * report data (cvm-binding.ts) and asks the kernel for the VM's evidence through configfs-tsm.
 * There is no seal key: TDX has none, and SNP's derived key needs an ioctl Cloister does not make;
 * an enclave that asks is refused (keys come from the key broker instead).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { concat } from '../../attestation/bytes.ts';
import { cvmReportData } from '../../attestation/cvm-binding.ts';
import { encodeSgxReportBody } from '../../attestation/report-body.ts';
import {
  decodeTargetInfo,
  encodeTargetInfo,
  REPORT_DATA_SIZE,
  REPORT_SIZE,
} from '../../interface/platform.ts';
import { BackendUnsupported } from '../backend.ts';
import type { EnclavePlatform, PlatformRequest } from '../backend.ts';
import { tsmReport } from '../tsm.ts';
import type { TsmFs, TsmProvider } from '../tsm.ts';

/** The quote service's identity as a REPORT target: a fixed name, not a measurement. */
const QUOTE_SERVICE = new Uint8Array(32).fill(0xc5);
const BODY = 384;
const KEY_ID = 32;
/** ATTRIBUTES: INIT | MODE64BIT, XFRM x87+SSE (as a production SGX enclave's). */
const ATTRIBUTES = Uint8Array.of(5, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0);

export interface CvmPlatformOptions {
  backend: 'tdx' | 'snp';
  provider: TsmProvider;
  /** configfs mount point (default `/sys/kernel/config`). */
  tsmRoot?: string;
  fs?: TsmFs;
}

export class CvmQuoteError extends Error {
  override name = 'CvmQuoteError';
}

export function openCvmPlatform(request: PlatformRequest, options: CvmPlatformOptions): EnclavePlatform {
  if (
    request.sig &&
    Buffer.compare(Buffer.from(request.sig.enclaveHash), Buffer.from(request.mrenclave)) !== 0
  )
    throw new Error(
      'the SIGSTRUCT was signed for another enclave (ENCLAVEHASH differs from the measurement)',
    );
  const secret = randomBytes(32);
  const macKey = (target: Uint8Array): Buffer => createHmac('sha256', secret).update(target).digest();
  const mac = (target: Uint8Array, keyId: Uint8Array, body: Uint8Array): Uint8Array =>
    new Uint8Array(createHmac('sha256', macKey(target)).update(keyId).update(body).digest().subarray(0, 16));
  return {
    localReport(targetInfo, reportData) {
      if (reportData.length !== REPORT_DATA_SIZE) throw new RangeError('report data must be 64 bytes');
      const body = encodeSgxReportBody({
        miscSelect: 0,
        attributes: ATTRIBUTES,
        mrEnclave: request.mrenclave,
        mrSigner: request.sig?.mrSigner ?? new Uint8Array(32),
        isvProdId: request.sig?.isvProdId ?? 0,
        isvSvn: request.sig?.isvSvn ?? 0,
        reportData,
      });
      const keyId = new Uint8Array(randomBytes(KEY_ID));
      return concat(body, keyId, mac(decodeTargetInfo(targetInfo).mrenclave, keyId, body));
    },
    sealKey() {
      throw new BackendUnsupported(
        `the ${options.backend} backend has no seal key (${options.backend === 'tdx' ? 'TDX has none' : "SNP's derived key is not reached"}); fetch keys from the key broker`,
      );
    },
    quoteTarget: () => encodeTargetInfo({ mrenclave: QUOTE_SERVICE, attributes: ATTRIBUTES, miscselect: 0 }),
    async quote(report) {
      if (report.length !== REPORT_SIZE) throw new CvmQuoteError(`a REPORT is ${REPORT_SIZE} bytes`);
      const body = report.subarray(0, BODY);
      const keyId = report.subarray(BODY, BODY + KEY_ID);
      // Only a REPORT this platform made, for the quote service, of this enclave, is quoted.
      if (!timingSafeEqual(mac(QUOTE_SERVICE, keyId, body), report.subarray(BODY + KEY_ID)))
        throw new CvmQuoteError('the REPORT was not made on this platform for the quote service');
      const mrenclave = body.subarray(64, 96);
      const reportData = body.subarray(320, 384);
      const evidence = await tsmReport({
        reportData: cvmReportData(mrenclave, reportData),
        root: options.tsmRoot,
        provider: options.provider,
        fs: options.fs,
      });
      return evidence.outblob;
    },
    close: () => secret.fill(0),
  };
}
