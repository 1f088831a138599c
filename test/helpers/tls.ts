// Self-signed TLS certificates for tests of what the client does with a certificate it cannot trust.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sh, toolMissing } from './images.ts';

/** The skip reason when openssl (which makes the test certificates) is absent, or false. */
export const opensslMissing: string | false = toolMissing('openssl');

/** A self-signed certificate and its key (PEM), and where they are (the certificate for NODE_EXTRA_CA_CERTS). */
export interface TestCertificate {
  key: Buffer;
  cert: Buffer;
  certPath: string;
  keyPath: string;
}

/**
 * Makes a self-signed P-256 certificate valid for two days in `dir`, named `name`, for
 * `altNames` (openssl's subjectAltName syntax: `IP:127.0.0.1`, `DNS:localhost`).
 */
export async function selfSignedCertificate(dir: string, name: string, subject: string, altNames: string): Promise<TestCertificate> {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.pem`);
  const r = sh('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '2',
    '-subj',
    subject,
    '-addext',
    `subjectAltName=${altNames}`,
  ]);
  if (r.status !== 0) throw new Error(`openssl could not make a certificate: ${r.stderr}`);
  return { key: await readFile(keyPath), cert: await readFile(certPath), certPath, keyPath };
}
