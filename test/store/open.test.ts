// Opening stores from locations: the image a location means when it names none, and registry
// access from explicit credentials or the standard credential files.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { statement } from '../../src/attest/storage.ts';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { parseLocation } from '../../src/ref/location.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { attestImage, signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { defaultTarget, openLocation } from '../../src/store/open.ts';
import { registryAccess } from '../../src/store/registry-access.ts';
import { makeImage } from '../helpers/images.ts';
import { recordingRegistry, registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('open');

describe('defaultTarget', () => {
  it('is the only image of a layout, an oci-archive and a docker-archive', async () => {
    const dir = await tempDir();
    const layout = await LayoutStore.open(join(dir, 'l'), { create: true });
    const made = await makeImage(layout, { tag: 'v1' });
    assert.equal(await defaultTarget(layout), made.root.digest);
    const archive = await openLocation(parseLocation(`oci-archive:${join(dir, 'a.tar')}:v1`), { write: true });
    await copyImage(layout, 'v1', archive.store, { tags: archive.tags });
    await archive.store.close();
    const read = await openLocation(parseLocation(`oci-archive:${join(dir, 'a.tar')}`));
    assert.equal(read.target, undefined);
    assert.equal(await defaultTarget(read.store), made.root.digest);
    const docker = await openLocation(parseLocation(`docker-archive:${join(dir, 'd.tar')}:example.com/app:1`), { write: true });
    await copyImage(layout, made.manifests[0]!.digest, docker.store, { tags: docker.tags });
    await docker.store.close();
    const dread = await openLocation(parseLocation(`docker-archive:${join(dir, 'd.tar')}`));
    assert.equal(dread.target, undefined, 'the location names no image; defaultTarget says which');
    // A docker-archive presents its image as a Docker manifest of the same config and layers.
    const read1 = await dread.store.getManifest(await defaultTarget(dread.store));
    const original = made.manifests[0]!;
    assert.ok(read1.kind === 'manifest' && original.kind === 'manifest');
    assert.equal(read1.manifest.config.digest, original.manifest.config.digest);
  });

  it('is USAGE naming the tags when a layout holds several images, and for a registry repository', async () => {
    const dir = await tempDir();
    const layout = await LayoutStore.open(join(dir, 'l'), { create: true });
    await makeImage(layout, { tag: 'v1', seed: 1 });
    await makeImage(layout, { tag: 'v2', seed: 9 });
    await assert.rejects(
      defaultTarget(layout),
      (e: unknown) => isProvenantError(e, 'USAGE') && /holds 2 images/.test(e.message) && /v1, v2/.test(e.hint ?? ''),
    );
    const { RegistryStore } = await import('../../src/store/registry.ts');
    const { RegistryClient } = await import('../../src/registry/client.ts');
    const remote = new RegistryStore(new RegistryClient('127.0.0.1:1'), 'app');
    await assert.rejects(defaultTarget(remote), (e: unknown) => isProvenantError(e, 'USAGE') && /names no tag or digest/.test(e.message));
  });
});

describe('defaultTarget of a layout', () => {
  it('counts the images a user can name, not their signatures and attestations, and says a layout with none holds no image', async () => {
    const dir = await tempDir();
    const empty = await LayoutStore.open(join(dir, 'empty'), { create: true });
    await assert.rejects(defaultTarget(empty), (e: unknown) => isProvenantError(e, 'NOT_FOUND') && /holds no image$/.test(e.message));

    // One image, signed in cosign 2's tags and as referrers, and attested: still the one image.
    const layout = await LayoutStore.open(join(dir, 'l'), { create: true });
    const made = await makeImage(layout, { tag: 'v1', seed: 1 });
    const signer = new KeySigner(generateSigningKeyPair().privateKey);
    const sign = (digest: Digest) =>
      signImage(layout, digest, { signer, storages: ['cosign', 'referrers'], dockerReference: 'registry.test/app' });
    await sign(made.root.digest);
    const subject = made.manifests[0]!.digest;
    await attestImage(layout, subject, [statement('https://spdx.dev/Document', {}, [{ name: 'app', digest: subject }])], {
      signer,
      storage: 'referrers',
    });
    assert.ok(layout.index.manifests.length > 3, 'the attachments are entries of index.json');
    assert.equal(await defaultTarget(layout), made.root.digest);

    // Two images: their count and their tags, none of cosign's.
    const other = await makeImage(layout, { tag: 'v2', seed: 9 });
    await sign(other.root.digest);
    await assert.rejects(defaultTarget(layout), (e: unknown) => {
      assert.ok(isProvenantError(e, 'USAGE'), String(e));
      assert.match(e.message, /holds 2 images; say which$/);
      assert.equal(e.hint, 'add :TAG (tags: v1, v2) or @DIGEST');
      return true;
    });
  });
});

describe('registryAccess', () => {
  it('refuses a username without a password, the other way round, and both without the registry they are for', () => {
    assert.throws(
      () => registryAccess({ username: 'u', credentialsRegistry: 'r.example', env: {}, homedir: '/nonexistent' }),
      (e: unknown) => isProvenantError(e, 'USAGE'),
    );
    assert.throws(
      () => registryAccess({ password: 'p', credentialsRegistry: 'r.example', env: {}, homedir: '/nonexistent' }),
      (e: unknown) => isProvenantError(e, 'USAGE'),
    );
    assert.throws(
      () => registryAccess({ username: 'u', password: 'p', env: {}, homedir: '/nonexistent' }),
      (e: unknown) => isProvenantError(e, 'USAGE'),
    );
  });

  it('sends explicit credentials to their registry alone, not to another one a command reaches', async () => {
    const other = await recordingRegistry();
    const { host, seen } = other;
    try {
      const access = registryAccess({
        username: 'u',
        password: 'secret-for-r',
        credentialsRegistry: 'r.example',
        env: {},
        homedir: '/nonexistent',
      });
      const opened = await openLocation(parseLocation(`${host}/some/app:v1`), { registry: access });
      await assert.rejects(opened.store.resolve('v1'), (e: unknown) => isProvenantError(e, 'UNAUTHORIZED'));
      assert.ok(seen.length > 0);
      assert.deepEqual(
        seen.filter((a) => a !== undefined),
        [],
        'the credentials went to a registry they are not for',
      );
    } finally {
      await other.close();
    }
  });

  describe('against a registry with basic auth', { skip: registryMissing }, () => {
    const reg = useRegistry({ auth: 'htpasswd' });

    it('pushes with explicit credentials, reads with the Docker config the environment names, and is UNAUTHORIZED without', async () => {
      const dir = await tempDir();
      const layout = await LayoutStore.open(join(dir, 'l'), { create: true });
      const made = await makeImage(layout, { tag: 'v1' });
      const explicit = registryAccess({
        username: reg.username,
        password: reg.password,
        credentialsRegistry: reg.host,
        env: {},
        homedir: dir,
      });
      const dst = await openLocation(parseLocation(`${reg.host}/access/app:v1`), { write: true, registry: explicit });
      await copyImage(layout, 'v1', dst.store, { tags: dst.tags });
      await writeFile(
        join(dir, 'config.json'),
        JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.username}:${reg.password}`).toString('base64') } } }),
      );
      const files = registryAccess({ env: { DOCKER_CONFIG: dir }, homedir: '/nonexistent' });
      const src = await openLocation(parseLocation(`${reg.host}/access/app:v1`), { registry: files });
      assert.equal((await src.store.resolve('v1'))?.digest, made.root.digest);
      const none = registryAccess({ env: {}, homedir: '/nonexistent' });
      const anonymous = await openLocation(parseLocation(`${reg.host}/access/app:v1`), { registry: none });
      await assert.rejects(anonymous.store.resolve('v1'), (e: unknown) => isProvenantError(e, 'UNAUTHORIZED'));
    });
  });
});
