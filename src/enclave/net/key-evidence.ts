/**
 * `PrivateKey = generate`: the key is made inside the enclave and never leaves it. Its public key
 * is bound to the enclave by attestation evidence whose report data carries it (the 32-byte key,
 * then 32 zero bytes), and both are printed on stderr, so that a peer can check it talks to the
 * attested enclave (as SGX-LKL did) before it adds the key to its configuration.
 */
import { REPORT_DATA_SIZE } from '../../interface/platform.ts';
import type { ConsoleCalls } from '../../interface/services.ts';
import type { Platform } from '../attest/platform-client.ts';
import { encodeKey } from './wireguard/crypto.ts';

/** The report data that binds a WireGuard public key. */
export function keyReportData(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 32) throw new Error('a WireGuard public key has 32 bytes');
  const data = new Uint8Array(REPORT_DATA_SIZE);
  data.set(publicKey);
  return data;
}

/** Quotes the key and prints the key and the evidence (base64) on stderr. */
export function announceGeneratedKey(publicKey: Uint8Array, platform: Platform, console: ConsoleCalls): void {
  const quote = platform.quote(keyReportData(publicKey));
  const text =
    `cloister: net: WireGuard key generated in the enclave; public key ${encodeKey(publicKey)}\n` +
    `cloister: net: evidence (quote, report data = public key, 32 zero bytes): ${Buffer.from(quote).toString('base64')}\n`;
  console.write(2, new TextEncoder().encode(text));
}
