/** Image globs as policy-controller matches them (pkg/apis/glob in sigstore/policy-controller). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../src/errors.ts';
import { canonicalImageName, compileGlob, globMatches, globProblem, policyImageName } from '../../src/policy/glob.ts';
import { DOCKER_HUB_INDEX } from '../../src/ref/reference.ts';

describe('image globs', () => {
  it('names images as go-containerregistry does', () => {
    assert.equal(canonicalImageName('busybox'), 'index.docker.io/library/busybox:latest');
    assert.equal(canonicalImageName('docker.io/acme/app:v1'), 'index.docker.io/acme/app:v1');
    assert.equal(
      canonicalImageName(`registry.example/acme/app:v1@sha256:${'a'.repeat(64)}`),
      `registry.example/acme/app@sha256:${'a'.repeat(64)}`,
    );
    assert.equal(canonicalImageName('oci:./out:latest'), undefined);
    // The registry fetched from, however its host is spelled.
    assert.equal(canonicalImageName('REGISTRY.TEST/prod/app:v1'), 'registry.test/prod/app:v1');
    assert.equal(canonicalImageName('registry.test:443/prod/app:v1'), 'registry.test/prod/app:v1');
    assert.equal(canonicalImageName('registry.test:5000/prod/app:v1'), 'registry.test:5000/prod/app:v1');
    assert.equal(globMatches('registry.test/prod/**', 'Registry.Test:443/prod/app:v1'), true);
    // A host without a dot keeps the spelling that makes it a host: lowered or without its port
    // it would read as a Docker Hub namespace, which Docker Hub's globs cover.
    for (const image of ['myreg:443/app:v1', 'MYREG/app:v1']) {
      const name = canonicalImageName(image);
      assert.ok(name !== undefined && canonicalImageName(name) === name, `${image} → ${name}`);
      assert.equal(globMatches('index.docker.io/**', image), false, image);
      assert.equal(globMatches('*/*', image), false, image);
    }
    assert.equal(canonicalImageName('myreg:443/app:v1'), 'myreg:443/app:v1');
    assert.equal(canonicalImageName('MYREG:443/app:v1'), 'myreg:443/app:v1');
    assert.equal(globMatches('myreg:443/**', 'MyReg:443/app:v1'), true);
    assert.equal(canonicalImageName('LOCALHOST:443/app:v1'), 'localhost/app:v1');
    // Docker Hub however its host is spelled, with its library/ namespace; the same name read again.
    for (const image of ['DOCKER.IO/busybox', 'INDEX.DOCKER.IO/busybox', 'index.docker.io:443/busybox', 'busybox']) {
      assert.equal(canonicalImageName(image), 'index.docker.io/library/busybox:latest', image);
      assert.equal(globMatches('*', image), true, image);
    }
    // The CLI's docker:// prefix names the same image.
    assert.equal(canonicalImageName('docker://busybox'), 'index.docker.io/library/busybox:latest');
    assert.equal(globMatches('**', 'docker://busybox'), true);
    assert.equal(globMatches('registry.test/dev/**', 'docker://registry.test/prod/app'), false);
  });

  // `oci:image.oci@sha256:…` also parses as a reference (Docker Hub's library/oci, tag image.oci):
  // read so, Docker Hub's `*` covered a local layout, and `oci:image.oci**` its tag but not its digest.
  it('matches a store location as given in every form, never as a Docker Hub name', () => {
    const d = `sha256:${'c'.repeat(64)}`;
    const stores: [string, string][] = [
      ['oci:image.oci', 'oci:image.oci'],
      ['oci:image.oci', 'oci:image.oci:latest'],
      ['oci:image.oci', `oci:image.oci@${d}`],
      ['oci:image.oci', `oci:image.oci:v1@${d}`],
      ['oci-archive:image.oci.tar', `oci-archive:image.oci.tar@${d}`],
      ['oci-archive:image.oci.tar', 'oci-archive:image.oci.tar:latest'],
      ['docker-archive:image.docker.tar', 'docker-archive:image.docker.tar'],
      ['docker-archive:image.docker.tar', 'docker-archive:image.docker.tar:app:v1'],
    ];
    for (const [place, image] of stores) {
      assert.equal(canonicalImageName(image), undefined, image);
      assert.equal(policyImageName(image, d), image, image);
      assert.equal(globMatches(`${place}**`, image), true, image);
      for (const glob of ['*', '*/*', `${DOCKER_HUB_INDEX}/**`]) assert.equal(globMatches(glob, image), false, `${glob} ${image}`);
    }
  });

  const cases: [string, string, boolean][] = [
    ['**', 'anything/at/all:v1', true],
    ['registry.example/acme/*', 'registry.example/acme/app:v1', true],
    ['registry.example/acme/*', 'registry.example/acme/team/app:v1', false],
    ['registry.example/acme/**', 'registry.example/acme/team/app:v1', true],
    ['registry.example/acme/app', 'registry.example/acme/app:latest', false],
    ['registry.example/acme/app', 'registry.example/acme/app', true],
    ['registry.example/acme/app:**', 'registry.example/acme/app', true],
    ['registry.example/acme/app**', 'registry.example/acme/app-fork:v1', true],
    ['*', 'busybox', true],
    ['*', 'registry.example/busybox', false],
    ['*/*', 'acme/app', true],
    ['index.docker.io/library/busybox:*', 'busybox:1.36', true],
    ['registry.example/acme/app.v1', 'registry.example/acme/appxv1', false],
    ['oci:./out:*', 'oci:./out:latest', true],
    [`registry.example/acme/app@sha256:${'b'.repeat(64)}`, `registry.example/acme/app:v1@sha256:${'b'.repeat(64)}`, true],
  ];
  for (const [glob, image, want] of cases) {
    it(`${glob} ${want ? 'matches' : 'does not match'} ${image}`, () => {
      assert.equal(globMatches(glob, image), want);
    });
  }

  it('refuses characters a glob cannot hold, and answers any name or refuses it as no reference', () => {
    assert.match(globProblem('registry/[ab]') ?? '', /only letters/);
    assert.equal(globProblem('a/**'), undefined);
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9\-_:/*.@]{1,20}$/), fc.string({ maxLength: 60 }), (glob, name) => {
        try {
          assert.equal(typeof globMatches(compileGlob(glob), name), 'boolean');
        } catch (err) {
          assert.ok(isProvenantError(err, 'INVALID_REFERENCE'), String(err));
        }
      }),
    );
  });

  // policy-controller's Match refuses a name that is not a reference; matched as written, a path
  // through `..` passed a glob for the repository it climbs out of.
  for (const name of [
    'registry.test/dev/../prod/app',
    'registry.test/dev/%2e%2e/prod/app',
    'registry.test/dev/./app',
    'registry.test/dev/app/..',
  ]) {
    it(`refuses ${name}, which is not a reference, rather than matching dev/**`, () => {
      assert.throws(
        () => globMatches('registry.test/dev/**', name),
        (err: unknown) => isProvenantError(err, 'INVALID_REFERENCE') && err.message.includes(JSON.stringify(name)),
      );
    });
  }
});
