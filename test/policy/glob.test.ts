/** Image globs as policy-controller matches them (pkg/apis/glob in sigstore/policy-controller). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalImageName, compileGlob, globMatches, globProblem } from '../../src/policy/glob.ts';

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
    ['registry.example/acme/app.v1', 'registry.example/acme/appXv1:latest', false],
    ['oci:./out:*', 'oci:./out:latest', true],
    [`registry.example/acme/app@sha256:${'b'.repeat(64)}`, `registry.example/acme/app:v1@sha256:${'b'.repeat(64)}`, true],
  ];
  for (const [glob, image, want] of cases) {
    it(`${glob} ${want ? 'matches' : 'does not match'} ${image}`, () => {
      assert.equal(globMatches(glob, image), want);
    });
  }

  it('refuses characters a glob cannot hold, and never throws on any name', () => {
    assert.match(globProblem('registry/[ab]') ?? '', /only letters/);
    assert.equal(globProblem('a/**'), undefined);
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9\-_:/*.@]{1,20}$/), fc.string({ maxLength: 60 }), (glob, name) => {
        assert.equal(typeof globMatches(compileGlob(glob), name), 'boolean');
      }),
    );
  });
});
