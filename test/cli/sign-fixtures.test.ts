// Real cosign signatures (../shared/fixtures/sig) verified through the CLI: keyless against the
// public-good trusted root embedded in @sigstore/tuf (no --trusted-root), and a key signature
// whose Rekor entry is checked when a trusted root is given.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { publicGoodTrustedRoot } from '../../src/sign/trust.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { useTempDir } from '../helpers/temp.ts';
import { cimageLayer, putCosignLayer, putManifestBytes, sigFixture } from '../sign/helpers.ts';
import { provenant } from './provenant.ts';

const tempDir = useTempDir('cli-sign-fixtures');

/** A layout holding the fixture's manifest (tagged `img`) and its cosign `.sig` layer. */
async function layout(manifest: string, signature: string): Promise<string> {
  const dir = join(await tempDir(), 'l');
  const store = await LayoutStore.open(dir, { create: true });
  const digest = await putManifestBytes(store, await sigFixture(manifest), 'img');
  await putCosignLayer(store, digest, await cimageLayer(signature));
  await store.close();
  return dir;
}

describe('the embedded public-good trusted root', () => {
  it('is the one of the installed @sigstore/tuf, with the public Fulcio and Rekor', async () => {
    const pkg = JSON.parse(await readFile(createRequire(import.meta.url).resolve('@sigstore/tuf/package.json'), 'utf8'));
    const embedded = await publicGoodTrustedRoot();
    assert.equal(embedded.source, `@sigstore/tuf ${pkg.version}`);
    assert.ok(embedded.root.certificateAuthorities.some((ca) => ca.uri === 'https://fulcio.sigstore.dev'));
    assert.ok(embedded.root.tlogs.some((t) => t.baseUrl === 'https://rekor.sigstore.dev'));
    assert.equal(await publicGoodTrustedRoot(), embedded, 'read once');
  });
});

describe('real cosign signatures through the CLI', { skip: fixturesMissing }, () => {
  it('keyless (Fulcio and Rekor of the public instance): verifies with the embedded root, the certificate expired since', async () => {
    const dir = await layout(
      'cimage-dir-img-cosign-fulcio-rekor-valid.manifest.json',
      'cimage-dir-img-cosign-fulcio-rekor-valid.signature-1',
    );
    const trust = ['--certificate-identity', 'mitr@redhat.com', '--certificate-oidc-issuer', 'https://github.com/login/oauth'];
    const r = await provenant(['verify', ...trust, `oci:${dir}:img`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /1 of 1 signatures verified\n {2}ok +signature +cosign +sha256-[0-9a-f]{64}\.sig layer 0 +by mitr@redhat\.com \(https:\/\/github\.com\/login\/oauth\) {2}rekor log index \d+ \(2023-01-20T20:51:33\.000Z\)/,
    );
    const json = JSON.parse((await provenant(['verify', ...trust, '--format', 'json', `oci:${dir}:img`])).stdout);
    assert.match(json.trustedRoot, /embedded in @sigstore\/tuf/);
    assert.equal(json.checked[0].transparencyLog, true);
    const wrong = await provenant([
      'verify',
      '--certificate-identity',
      'someone@example.com',
      '--certificate-oidc-issuer',
      'https://github.com/login/oauth',
      `oci:${dir}:img`,
    ]);
    assert.equal(wrong.status, 5, wrong.stderr);
    assert.match(wrong.stderr, /identity: the certificate’s identity is "mitr@redhat\.com", not "someone@example\.com"/);
  });

  it('a key signature with a Rekor entry: verifies by key alone, and with a trusted root its log entry is checked', async () => {
    const dir = await layout('cimage-dir-img-cosign-key-rekor-valid.manifest.json', 'cimage-dir-img-cosign-key-rekor-valid.signature-1');
    const key = fixture('sig', 'cimage-cosign2.pub');
    const alone = JSON.parse((await provenant(['verify', '--key', key, '--format', 'json', `oci:${dir}:img`])).stdout);
    assert.equal(alone.verified, true);
    assert.equal(alone.checked[0].transparencyLog, false);
    const root = fixture('sig', 'sjs-tuf-seeds-trusted_root-public-good.json');
    const logged = await provenant(['verify', '--key', key, '--trusted-root', root, `oci:${dir}:img`]);
    assert.equal(logged.status, 0, logged.stderr);
    assert.match(logged.stdout, /by key \S+ {2}rekor log index \d+/);
    const other = await provenant(['verify', '--key', fixture('sig', 'cimage-cosign.pub'), `oci:${dir}:img`]);
    assert.equal(other.status, 5, other.stderr);
  });
});
