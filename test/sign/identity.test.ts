// The one IDENTITY (ISSUER) label that inspect, verify, the report's readers and the Action write.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { identityLabel } from '../../src/sign/identity.ts';
import { cliLoading, RESOLVED_MODULES } from '../helpers/cli.ts';

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
