// Choosing the package source from the configuration's repositories: one kind per image.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { silentLogger } from '../../src/io/types.ts';
import { openPackageSource } from '../../src/pkg/sources.ts';

const base = { keyring: [], packages: [], configPath: 'image.yaml', baseDir: '.', cache: undefined, logger: silentLogger };

describe('openPackageSource', () => {
  it('opens Debian sources for deb lines and apk repositories for the rest, or for none', async () => {
    const deb = await openPackageSource({ ...base, repositories: ['deb http://127.0.0.1:9/debian bookworm main'] });
    assert.equal(deb.ecosystem, 'deb');
    assert.equal(deb.archName('x86_64'), 'amd64');
    const apk = await openPackageSource({ ...base, repositories: ['@edge http://127.0.0.1:9/alpine/edge/main'] });
    assert.equal(apk.ecosystem, 'apk');
    assert.equal(apk.archName('x86_64'), 'x86_64');
    assert.equal((await openPackageSource({ ...base, repositories: [] })).ecosystem, 'apk');
  });

  it('refuses repositories of two kinds, naming both', async () => {
    await assert.rejects(
      openPackageSource({ ...base, repositories: ['http://127.0.0.1:9/alpine/main', 'deb http://127.0.0.1:9/debian bookworm main'] }),
      (err: unknown) =>
        isProvenantError(err, 'INVALID_CONFIG') &&
        /mixes Debian sources and apk repositories; one image takes packages from one kind/.test(err.message),
    );
  });

  it('never shows the credentials of a malformed apk repository URL', async () => {
    await assert.rejects(
      openPackageSource({ ...base, repositories: ['https://user:Secret-pw@127.0.0.1:99999/alpine'] }),
      (err: unknown) => isProvenantError(err, 'INVALID_CONFIG') && /malformed/.test(err.message) && !err.message.includes('Secret'),
    );
  });

  it('refuses a deb line that is not a Debian source when it is opened', async () => {
    await assert.rejects(
      openPackageSource({ ...base, repositories: ['deb [arch=amd64 http://127.0.0.1:9/debian bookworm main'] }),
      (err: unknown) => isProvenantError(err),
    );
  });
});
