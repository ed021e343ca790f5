import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { before, describe, it } from 'node:test';
import { connect, createServer } from 'node:tls';
import type { Server } from 'node:tls';
import {
  BasicConstraintsExtension,
  Extension,
  X509Certificate,
  X509CertificateGenerator,
} from '@peculiar/x509';
import {
  GRAMINE_QUOTE_OID_AS_WRITTEN,
  RATLS_QUOTE_OID,
  RaTlsError,
  TCG_DICE_TAGGED_EVIDENCE_OID,
  checkRaTlsCertificate,
  createRaTlsCertificate,
  raTlsClientOptions,
  verifyRaTlsPeer,
} from '../../src/attestation/ratls.ts';
import type { RaTlsIdentity } from '../../src/attestation/ratls.ts';
import { POLICY, issuer } from './helpers/kbs.ts';
import type { QuoteIssuer } from './helpers/quotes.ts';

/** Re-issues `id`'s certificate with its own key but other extensions (to plant bad evidence). */
async function reissue(id: RaTlsIdentity, extensions: Array<[string, Uint8Array]>): Promise<string> {
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=RATLS, O=Cloister',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    keys: id.keys,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      ...extensions.map(([oid, value]) => new Extension(oid, false, new Uint8Array(value))),
    ],
  });
  return cert.toString('pem');
}

/** The value of extension `oid` in `id`'s certificate. */
function extension(id: RaTlsIdentity, oid: string): Uint8Array {
  const ext = new X509Certificate(new Uint8Array(id.certificateDer)).extensions.find((e) => e.type === oid);
  assert.ok(ext, `no extension ${oid}`);
  return new Uint8Array(ext.value);
}

async function rejects(pem: string, code: RaTlsError['code'], iss: QuoteIssuer): Promise<void> {
  await assert.rejects(
    checkRaTlsCertificate(pem, { verifier: iss.verifier, policy: POLICY }),
    (e: unknown) => {
      assert.ok(e instanceof RaTlsError, String(e));
      assert.equal(e.code, code, e.message);
      return true;
    },
  );
}

/** A TLS server on 127.0.0.1 presenting `id`; it answers "hello " + what it receives. */
async function serve(
  key: string,
  cert: string,
): Promise<{ server: Server; port: number; received: string[] }> {
  const received: string[] = [];
  const server = createServer({ key, cert }, (socket) => {
    socket.on('data', (d: Buffer) => {
      received.push(d.toString());
      socket.end(`hello ${d.toString()}`);
    });
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, received };
}

/** Connects with the RA-TLS check; resolves with the server's reply, or rejects with the check's error. */
async function talk(port: number, iss: QuoteIssuer): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port, ...raTlsClientOptions() });
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect');
  await verifyRaTlsPeer(socket, { verifier: iss.verifier, policy: POLICY });
  socket.write('enclave');
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('RA-TLS', () => {
  let iss: QuoteIssuer;
  let id: RaTlsIdentity;
  before(async () => {
    iss = await issuer();
    id = await createRaTlsCertificate((reportData) => iss.quote({ reportData }));
  });

  it('a certificate made inside the enclave carries both evidence forms and verifies', async () => {
    const result = await checkRaTlsCertificate(id.certificatePem, { verifier: iss.verifier, policy: POLICY });
    assert.deepEqual(result.evidence.sort(), ['dice', 'legacy']);
    assert.equal(result.claims.mrenclave, '11'.repeat(32));
    assert.equal(extension(id, RATLS_QUOTE_OID).length > 1000, true);
  });

  it('accepts a handshake with an enclave server over node:tls', async () => {
    const { server, port, received } = await serve(id.privateKeyPem, id.certificatePem);
    try {
      assert.equal(await talk(port, iss), 'hello enclave');
      assert.deepEqual(received, ['enclave']);
    } finally {
      server.close();
    }
  });

  it('refuses a handshake whose certificate carries a tampered quote, before sending anything', async () => {
    const quote = extension(id, RATLS_QUOTE_OID).slice();
    quote[48 + 64] ^= 1;
    const tampered = await reissue(id, [[RATLS_QUOTE_OID, quote]]);
    const { server, port, received } = await serve(id.privateKeyPem, tampered);
    try {
      await assert.rejects(
        talk(port, iss),
        (e: unknown) => e instanceof RaTlsError && e.code === 'evidence-refused',
      );
      assert.deepEqual(received, []);
    } finally {
      server.close();
    }
  });

  it('refuses a handshake whose quote binds another key', async () => {
    const other = await createRaTlsCertificate((reportData) => iss.quote({ reportData }));
    // The other enclave's genuine evidence, in a certificate for this key.
    const stolen = await reissue(id, [[RATLS_QUOTE_OID, extension(other, RATLS_QUOTE_OID)]]);
    const { server, port, received } = await serve(id.privateKeyPem, stolen);
    try {
      await assert.rejects(
        talk(port, iss),
        (e: unknown) => e instanceof RaTlsError && e.code === 'key-mismatch',
      );
      assert.deepEqual(received, []);
    } finally {
      server.close();
    }
  });

  it('refuses a server presenting a genuine RA-TLS certificate without its key', async () => {
    const impostor = await createRaTlsCertificate((reportData) => iss.quote({ reportData }));
    // The impostor's own key with the genuine certificate: TLS itself refuses the mismatch.
    assert.throws(() => createServer({ key: impostor.privateKeyPem, cert: id.certificatePem }));
  });

  it('checks each evidence form: DICE claims for another key, bad CBOR, none at all, the Gramine OID spelling', async () => {
    const other = await createRaTlsCertificate((reportData) => iss.quote({ reportData }));
    await rejects(
      await reissue(id, [[TCG_DICE_TAGGED_EVIDENCE_OID, extension(other, TCG_DICE_TAGGED_EVIDENCE_OID)]]),
      'key-mismatch',
      iss,
    );
    await rejects(
      await reissue(id, [[TCG_DICE_TAGGED_EVIDENCE_OID, Uint8Array.of(0xd9, 0xea, 0x60, 0x82, 0x41)]]),
      'bad-evidence',
      iss,
    );
    await rejects(
      await reissue(id, [[TCG_DICE_TAGGED_EVIDENCE_OID, Uint8Array.of(0xff)]]),
      'bad-evidence',
      iss,
    );
    await rejects(await reissue(id, []), 'no-evidence', iss);
    const gramine = await reissue(id, [[GRAMINE_QUOTE_OID_AS_WRITTEN, extension(id, RATLS_QUOTE_OID)]]);
    const der = Buffer.from(gramine.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    // Gramine's bytes: the OID value itself starts with 06 09 2A 86 48 86 F8 4D 8A 39 06.
    assert.ok(der.includes(Buffer.from('060b06092a864886f84d8a3906', 'hex')));
    const result = await checkRaTlsCertificate(gramine, { verifier: iss.verifier, policy: POLICY });
    assert.deepEqual(result.evidence, ['legacy']);
    const diceOnly = await reissue(id, [
      [TCG_DICE_TAGGED_EVIDENCE_OID, extension(id, TCG_DICE_TAGGED_EVIDENCE_OID)],
    ]);
    assert.deepEqual((await checkRaTlsCertificate(diceOnly, { verifier: iss.verifier })).evidence, ['dice']);
  });

  it('applies the policy and the certificate checks', async () => {
    const wrong = await createRaTlsCertificate((reportData) =>
      iss.quote({ reportData, mrEnclave: '66'.repeat(32) }),
    );
    await rejects(wrong.certificatePem, 'policy', iss);
    const broken = Buffer.from(id.certificateDer);
    broken[broken.length - 5] ^= 1;
    await rejects(id.certificatePem.slice(0, 300), 'bad-certificate', iss);
    await assert.rejects(
      checkRaTlsCertificate(new Uint8Array(broken), { verifier: iss.verifier }),
      (e: unknown) => e instanceof RaTlsError && e.code === 'certificate-signature',
    );
    await assert.rejects(
      checkRaTlsCertificate(id.certificateDer, {
        verifier: iss.verifier,
        at: new Date(Date.now() + 400 * 86_400_000),
      }),
      (e: unknown) => e instanceof RaTlsError && e.code === 'certificate-expired',
    );
    await rejects('not a certificate', 'bad-certificate', iss);
  });
});
