/**
 * A private Sigstore instance for tests: @sigstore/mock's Fulcio, Rekor and timestamp
 * authority, served over HTTP on 127.0.0.1 (one server, each service on its own path), and the
 * trusted root that describes them, written to a file the way a user would pass one. Nothing
 * goes to the public instances.
 */
import { createHash, generateKeyPairSync, type KeyPairKeyObjectResult } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { X509Certificate } from '@sigstore/core';
import { fulcioHandler, initializeCA, initializeCTLog, initializeTLog, initializeTSA, rekorHandler, tsaHandler } from '@sigstore/mock';
import { KeylessSigner } from '../../src/sign/signer.ts';
import { parseTrustedRoot, type TrustedRoot } from '../../src/sign/trust.ts';

type Handler = {
  path: string;
  fn: (body: string) => Promise<{ statusCode: number; response: string | ArrayBufferView; contentType?: string }>;
};

/** A running mock instance. */
export interface MockSigstore {
  url: string;
  trustedRoot: TrustedRoot;
  trustedRootPath: string;
  /**
   * An (unsigned) OIDC token whose `sub` Fulcio puts in the certificate's SAN; `claims` are more
   * of its claims, which the mock Fulcio writes as extensions as Fulcio does for GitHub Actions
   * (`event_name`, `sha`, `workflow`, `repository`, `ref`: 1.3.6.1.4.1.57264.1.2 to .6).
   */
  token(subject: string, issuer?: string, claims?: Record<string, string>): string;
  /** How many requests each service answered. */
  requests: { fulcio: number; rekor: number; tsa: number };
  stop(): Promise<void>;
}

/** Options: clocks for the CA (certificates' notBefore) and the log (integrated times). */
export interface MockOptions {
  caClock?: Date;
  logClock?: Date;
  dir: string;
  /** Where the instance's P-256 keys come from, for each service: fresh ones unless a test hands out its own. */
  key?: (use: 'fulcio' | 'ctlog' | 'rekor' | 'tsa') => KeyPairKeyObjectResult;
}

export const MOCK_ISSUER = 'https://issuer.mock.test';

/**
 * The mock logs a proposed entry as it is; a real Rekor turns a proposed `dsse` entry
 * (envelope and verifiers) into the stored form (envelope and payload hashes, signatures with
 * their verifiers: rekor pkg/types/dsse/v0.0.1), which is what verifiers compare against. Done
 * here so that our `dsse` entries are checked as a real log would record them.
 */
function canonicalDsse(body: string): string {
  const entry = JSON.parse(body) as {
    kind?: string;
    apiVersion?: string;
    spec?: { proposedContent?: { envelope: string; verifiers: string[] } };
  };
  const proposed = entry.spec?.proposedContent;
  if (entry.kind !== 'dsse' || proposed === undefined) return body;
  const envelope = JSON.parse(proposed.envelope) as { payload: string; signatures: { sig: string }[] };
  const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
  return JSON.stringify({
    apiVersion: entry.apiVersion,
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256(proposed.envelope) },
      payloadHash: { algorithm: 'sha256', value: sha256(Buffer.from(envelope.payload, 'base64')) },
      signatures: envelope.signatures.map((s, i) => ({ signature: s.sig, verifier: proposed.verifiers[i] ?? proposed.verifiers[0] })),
    },
  });
}

/**
 * Whether @sigstore/core 3 verifies `der`'s signature (by `issuer`, or its own key). It checks
 * the signature over the TBS bytes it writes back from its parse (x509/cert.js:169), and its
 * parser reads an OCTET STRING's content as DER when it can (asn1/obj.js:119-124), taking a
 * long-form length it then writes in short form (asn1/length.js:23, 49). A subject key
 * identifier is the SHA-1 of the key: about one in 130,000 reads as such DER (`db 81 11` and 17
 * bytes: tag, length 17 in long form), and a CA certificate carrying it verifies nothing, so
 * every signature under the CA fails: "no valid certificate path found" for Fulcio
 * (@sigstore/verify key/certificate.js:86-91, 115, 147), "timestamp could not be verified" for
 * the TSA. A real Fulcio or TSA root is made once and known to verify; the mock makes its CAs
 * per run, so it makes another until one verifies. (A leaf certificate's identifier has the
 * same chance; that one is @sigstore/core's to fix: sigstore-js#1678 rejects such lengths.)
 */
function checkable(der: ArrayBufferView, issuer: ArrayBufferView = der): boolean {
  const parse = (b: ArrayBufferView) => X509Certificate.parse(Buffer.from(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
  return parse(der).verify(parse(issuer));
}

/** `make()` again until `ok` holds for what it made. */
async function until<T>(make: () => Promise<T>, ok: (made: T) => boolean): Promise<T> {
  for (;;) {
    const made = await make();
    if (ok(made)) return made;
  }
}

export async function startMockSigstore(options: MockOptions): Promise<MockSigstore> {
  const key = options.key ?? (() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const handlers = new Map<string, { handler: Handler; name: 'fulcio' | 'rekor' | 'tsa' }>();
  const requests = { fulcio: 0, rekor: 0, tsa: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const h = req.method === 'POST' ? handlers.get(req.url ?? '') : undefined;
      if (h === undefined) {
        res.writeHead(404).end();
        return;
      }
      requests[h.name]++;
      h.handler
        .fn(Buffer.concat(chunks).toString('utf8'))
        .then(({ statusCode, response, contentType }) => {
          res.writeHead(statusCode, { 'Content-Type': contentType ?? 'text/plain' });
          res.end(typeof response === 'string' ? response : Buffer.from(response.buffer, response.byteOffset, response.byteLength));
        })
        .catch((err: unknown) => res.writeHead(500).end(String(err)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // The clocks stand still, on a whole second: pkijs writes the timestamp authority's
  // GeneralizedTime with its milliseconds minus trailing zeros (as DER wants: ".12Z"), which
  // @sigstore/core 3 refuses unless there are exactly three digits; whole seconds have none.
  // The CA's clock is the log's unless a test moves it, so a certificate is valid when logged.
  // It is set a second or two ahead: the mock's root certificates are made with the real time,
  // and must be valid at the time their certificates and timestamps say.
  const now = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
  const logClock = options.logClock ?? now;
  const caClock = options.caClock ?? logClock;
  const ctlog = await initializeCTLog(key('ctlog'), caClock);
  const logKey = key('rekor');
  const ca = await until(
    () => initializeCA(key('fulcio'), ctlog, caClock),
    (c) => checkable(c.rootCertificate),
  );
  const tlog = await initializeTLog(url, logKey, logClock);
  // The TSA's intermediate certificate has the root's key and key identifier.
  const tsa = await until(
    () => initializeTSA(key('tsa'), logClock),
    (t) => checkable(t.rootCertificate) && checkable(t.intCertificate, t.rootCertificate),
  );
  const rekor = rekorHandler(tlog) as Handler;
  for (const [name, handler] of [
    ['fulcio', fulcioHandler(ca) as Handler],
    ['rekor', { path: rekor.path, fn: (body: string) => rekor.fn(canonicalDsse(body)) }],
    ['tsa', tsaHandler(tsa) as Handler],
  ] as const) {
    handlers.set(handler.path, { handler, name });
  }

  const b64 = (b: ArrayBufferView | Buffer) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
  const der = (k: ReturnType<typeof key>['publicKey']) => k.export({ format: 'der', type: 'spki' });
  const start = '2000-01-01T00:00:00Z';
  // protobuf-specs TrustedRoot JSON, as `cosign trusted-root create` writes one.
  const root = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: url,
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: b64(der(logKey.publicKey)), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
        logId: { keyId: createHash('sha256').update(der(logKey.publicKey)).digest('base64') },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: url,
        certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] },
        validFor: { start },
      },
    ],
    ctlogs: [
      {
        baseUrl: url,
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: b64(ctlog.publicKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
        logId: { keyId: b64(ctlog.logID) },
      },
    ],
    timestampAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'tsa' },
        uri: url,
        certChain: { certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }] },
        validFor: { start },
      },
    ],
  };
  const trustedRootPath = join(options.dir, 'trusted_root.json');
  await writeFile(trustedRootPath, JSON.stringify(root, null, 2));
  const { readFile } = await import('node:fs/promises');
  const trustedRoot = parseTrustedRoot(await readFile(trustedRootPath), trustedRootPath);

  return {
    url,
    trustedRoot,
    trustedRootPath,
    requests,
    token(subject: string, issuer = MOCK_ISSUER, claims: Record<string, string> = {}) {
      const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ ...claims, iss: issuer, sub: subject, aud: 'sigstore' })}.`;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A keyless signer of `mock`'s Fulcio, Rekor and TSA, for a token of `subject` (and `issuer`, and more `claims`). */
export function mockSigner(mock: MockSigstore, subject: string, issuer?: string, claims?: Record<string, string>): KeylessSigner {
  return new KeylessSigner({
    fulcioURL: mock.url,
    rekorURL: mock.url,
    tsaURL: mock.url,
    identityToken: mock.token(subject, issuer, claims),
    trustedRoot: mock.trustedRoot,
  });
}
