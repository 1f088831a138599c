/**
 * The mock Sigstore's own authorities verify with @sigstore/core whatever keys it is given: a
 * Fulcio or TSA key whose key identifier @sigstore/core 3 misreads (see `checkable` in
 * mock-sigstore.ts) failed every keyless signature of a test run, about once in 65,000 runs.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { X509Certificate } from '@sigstore/core';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { KeylessSigner } from '../../src/sign/signer.ts';
import { useTempDir } from '../helpers/temp.ts';
import { MOCK_ISSUER, type MockOptions, startMockSigstore } from './mock-sigstore.ts';

// A P-256 key whose subject key identifier (SHA-1 of its point) is db 81 11 fb…: @sigstore/core
// reads it as a TLV with its length, 17, in long form, and writes it back without the 81.
const UNLUCKY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgfvJhtrgktTvUDWyg
UBQFHxxQvLlCMWQAivlaQRV0J9ChRANCAATSMJe9I30Q+MiApYVmiooqyveePUTk
2tVeY9Xae/g1YExxi1MB+7edsJrHzq76EkQFbS6wChT4Hwqyb+d487sc
-----END PRIVATE KEY-----
`;
const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';

describe('the mock Sigstore', () => {
  const tempDir = useTempDir('mock-sigstore');

  for (const use of ['fulcio', 'tsa'] as const) {
    it(`makes a ${use} CA that verifies when the first key it draws has a misread key identifier`, async () => {
      let handed = 0;
      const key: MockOptions['key'] = (u) => {
        if (u !== use || handed++ > 0) return generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const privateKey = createPrivateKey(UNLUCKY);
        return { privateKey, publicKey: createPublicKey(privateKey) };
      };
      const mock = await startMockSigstore({ dir: await tempDir(), key });
      try {
        const root = mock.trustedRoot;
        for (const ca of [...root.certificateAuthorities, ...root.timestampAuthorities]) {
          const chain = ca.certChain?.certificates.map((c) => X509Certificate.parse(Buffer.from(c.rawBytes))) ?? [];
          for (const [i, cert] of chain.entries()) assert.ok(cert.verify(chain[i + 1]), `${ca.uri} certificate ${i} verifies`);
        }
        const signer = new KeylessSigner({
          fulcioURL: mock.url,
          rekorURL: mock.url,
          tsaURL: mock.url,
          identityToken: mock.token(IDENTITY),
        });
        const { bundle } = await signer.sign({ kind: 'message', bytes: new TextEncoder().encode('signed') });
        const verified = new Verifier(toTrustMaterial(root)).verify(toSignedEntity(bundle, Buffer.from('signed')), {
          subjectAlternativeName: IDENTITY,
          extensions: { issuer: MOCK_ISSUER },
        });
        assert.equal(verified.identity?.subjectAlternativeName, IDENTITY);
        assert.ok(handed > 1, 'the unlucky key was drawn, and another after it');
      } finally {
        await mock.stop();
      }
    });
  }
});
