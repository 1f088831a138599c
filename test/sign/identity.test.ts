// The one IDENTITY (ISSUER) label that inspect, verify, the report's readers and the Action write.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

describe('inspect', () => {
  it('reads a certificate without loading the signing stack (@sigstore/sign, signer.ts): start-up of the printing commands', () => {
    const hook = [
      "import { registerHooks } from 'node:module';",
      'const seen = new Set();',
      'registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.add(r.url); return r; } });',
      "process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify([...seen]) + '\\n'));",
    ].join('\n');
    const inspect = new URL('../../src/sign/inspect.ts', import.meta.url).href;
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        `data:text/javascript,${encodeURIComponent(hook)}`,
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(inspect)});`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
    const loaded = JSON.parse(line!.slice('LOADED '.length)) as string[];
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
