/**
 * HTTPS on the inference port: the key pair (and, for mTLS, the client CA bundle) from mounted
 * files, checked before use, and swapped in with server.setSecureContext when the files change,
 * so open connections keep their session and new handshakes get the new certificate. A new pair
 * that fails the checks is not used: the old one stays and a JSON error line names the reason.
 * Key material never reaches a log line; the certificate is named by subject, expiry and SHA-256
 * fingerprint only.
 *
 * Protocol: TLS 1.2 and 1.3 only (minVersion), Node's default cipher list (tls.DEFAULT_CIPHERS:
 * ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 first; no RC4, DES, 3DES, MD5 or export
 * suites).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { ServerOptions } from 'node:https';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { errorMessage, TlsError } from '../errors.ts';
import { readMountedFile } from './mounted-file.ts';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** mTLS: client certificates must chain to a CA in this bundle */
  clientCaFile: string | undefined;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  clientCa: Buffer | undefined;
  /** for log lines: never the certificate itself */
  summary: { subject: string; validTo: string; fingerprint256: string };
}

export const TLS_MIN_VERSION = 'TLSv1.2';

/** Checks a key pair (and CA bundle) before it is served; throws TlsError naming what is wrong. */
export function checkTlsMaterial(cert: Buffer, key: Buffer, clientCa: Buffer | undefined, now = Date.now()): TlsMaterial {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new TlsError(`the certificate is not a PEM X.509 certificate (${errorMessage(err)})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new TlsError('the private key is not a PEM private key');
  }
  if (!x509.checkPrivateKey(privateKey)) throw new TlsError(`the private key does not match the certificate (subject "${x509.subject}")`);
  if (Date.parse(x509.validTo) <= now) throw new TlsError(`the certificate expired at ${x509.validTo} (subject "${x509.subject}")`);
  if (Date.parse(x509.validFrom) > now)
    throw new TlsError(`the certificate is not valid before ${x509.validFrom} (subject "${x509.subject}")`);
  if (clientCa !== undefined) {
    try {
      new X509Certificate(clientCa);
    } catch (err) {
      throw new TlsError(`the client CA bundle is not a PEM X.509 certificate (${errorMessage(err)})`);
    }
  }
  try {
    createSecureContext(secureContextOptions({ cert, key, clientCa }));
  } catch (err) {
    throw new TlsError(`the key pair cannot be used for TLS: ${errorMessage(err)}`);
  }
  return { cert, key, clientCa, summary: { subject: x509.subject, validTo: x509.validTo, fingerprint256: x509.fingerprint256 } };
}

export function tlsPaths(files: TlsFiles): string[] {
  return [files.certFile, files.keyFile, ...(files.clientCaFile ? [files.clientCaFile] : [])];
}

/** The files' bytes in tlsPaths order. */
export async function readTlsFiles(files: TlsFiles): Promise<Buffer[]> {
  return Promise.all(
    tlsPaths(files).map((p) =>
      readMountedFile(p).catch((err: unknown) => {
        throw new TlsError(`cannot read ${p}: ${errorMessage(err)}`);
      }),
    ),
  );
}

/** The files' bytes in tlsPaths order, checked. */
export function materialOf(files: TlsFiles, contents: Buffer[]): TlsMaterial {
  return checkTlsMaterial(contents[0] as Buffer, contents[1] as Buffer, files.clientCaFile ? contents[2] : undefined);
}

export function secureContextOptions(m: Pick<TlsMaterial, 'cert' | 'key' | 'clientCa'>): SecureContextOptions {
  return { cert: m.cert, key: m.key, minVersion: TLS_MIN_VERSION, ...(m.clientCa ? { ca: m.clientCa } : {}) };
}

/**
 * Server options. With a client CA the certificate is asked for but the handshake is not refused
 * without one: Kubernetes' HTTPS probes present no client certificate, so the health routes must
 * stay reachable; every other route refuses such a connection (client-cert.ts).
 */
export function httpsServerOptions(m: TlsMaterial): ServerOptions {
  return { ...secureContextOptions(m), ...(m.clientCa ? { requestCert: true, rejectUnauthorized: false } : {}) };
}
