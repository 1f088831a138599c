// The one IDENTITY (ISSUER) label that inspect, verify, the report's readers and the Action write.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { identityLabel } from '../../src/sign/identity.ts';
import { identityOfCertificate } from '../../src/sign/material.ts';
import { cliLoading, RESOLVED_MODULES } from '../helpers/cli.ts';
import { fixturesMissing } from '../helpers/fixtures.ts';
import { sigFixture } from './helpers.ts';

describe('identityLabel', () => {
  it('IDENTITY (ISSUER), or the identity alone for a certificate that names no issuer, never "()" nor "(undefined)"', () => {
    const who = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
    assert.equal(
      identityLabel({ identity: who, issuer: 'https://token.actions.githubusercontent.com' }),
      `${who} (https://token.actions.githubusercontent.com)`,
    );
    assert.equal(identityLabel({ identity: who, issuer: '' }), who);
    assert.equal(identityLabel({ identity: who, issuer: undefined }), who);
    assert.equal(identityLabel({ identity: who }), who);
  });
});

describe('identityOfCertificate', () => {
  it('reads a Fulcio username identity from an otherName SAN (1.3.6.1.4.1.57264.1.7), as cosign matches it', {
    skip: fixturesMissing,
  }, async () => {
    // sigstore-go's private-instance bundle: its certificate's only SAN is an otherName.
    const bundle = JSON.parse((await sigFixture('sgo-othername.sigstore.json')).toString('utf8'));
    const material = bundle.verificationMaterial;
    const raw = (material.certificate ?? material.x509CertificateChain.certificates[0]).rawBytes;
    assert.deepEqual(identityOfCertificate(Buffer.from(raw, 'base64')), { identity: 'foo!oidc.local', issuer: 'http://oidc.local:8080' });
    // The same value as another string type (IA5String, tag 22): not a username, it names nobody.
    const der = Buffer.from(raw, 'base64');
    const utf8 = Buffer.concat([Buffer.from([0x0c, 14]), Buffer.from('foo!oidc.local')]);
    const at = der.indexOf(utf8);
    assert.ok(at > 0 && der.indexOf(utf8, at + 1) === -1, 'the otherName value is found once');
    der[at] = 0x16;
    assert.deepEqual(identityOfCertificate(der), { identity: '', issuer: 'http://oidc.local:8080' });
  });
});

describe('inspect', () => {
  it('reads a certificate without loading the signing stack (@sigstore/sign, signer.ts): start-up of the printing commands', async () => {
    const inspect = fileURLToPath(new URL('../../src/sign/inspect.ts', import.meta.url));
    const { loaded } = await cliLoading([], RESOLVED_MODULES, { main: inspect });
    assert.ok(
      loaded.some((u) => u.endsWith('/src/sign/material.ts')),
      'the probe saw inspect.ts load its imports',
    );
    assert.deepEqual(
      loaded.filter((u) => /\/@sigstore\/sign\/|\/src\/sign\/signer\.ts$/.test(u)),
      [],
    );
  });
});
