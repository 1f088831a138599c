// The one IDENTITY (ISSUER) label that inspect, verify, the report's readers and the Action write.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { identityLabel } from '../../src/sign/identity.ts';

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
