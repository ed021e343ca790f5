/**
 * Signed releases (a Cloister extension of the KBS protocol): with a resource, a broker that keeps a
 * broker key sends a header holding a compact JWS (ES256, that key) over the resource path, the
 * SHA-256 of the exact response body (the JWE) and the RFC 7638 thumbprint of the enclave key the
 * JWE is encrypted to. An enclave that pinned the broker key (`--kbs-key`, measured) accepts a
 * released secret only with that signature: the host relaying the exchange (where TLS ends) could
 * otherwise encrypt a secret of its own choosing to the enclave's public key.
 */

/** The response header carrying the signature. */
export const RELEASE_SIGNATURE_HEADER = 'cloister-release-signature';
/** The JWS `typ` of a release signature: a signature meant for nothing else. */
export const RELEASE_JWS_TYPE = 'cloister-release+jws';

/** What the broker signs. */
export interface ReleaseClaims {
  typ: typeof RELEASE_JWS_TYPE;
  /** repository/type/tag. */
  resource: string;
  /** base64url SHA-256 of the response body as sent. */
  'jwe-sha256': string;
  /** RFC 7638 thumbprint (base64url SHA-256) of the enclave's public key the JWE is for. */
  'tee-key': string;
}
