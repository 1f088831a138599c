// Attestation storage: BuildKit's index form and OCI referrers, in a layout and in the real registry.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { provenance } from '../../src/attest/provenance.ts';
import { type Attested, attestationReferrer, statement, storeAttestations } from '../../src/attest/storage.ts';
import { isProvenantError } from '../../src/errors.ts';
import { imageSbom } from '../../src/image/attestations.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { bytesSource } from '../../src/io/types.ts';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { ImageIndex, ImageManifest } from '../../src/oci/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { makeImage } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';

const run = promisify(execFile);
const tempDir = useTempDir('att');
async function layout(): Promise<{ store: LayoutStore; path: string }> {
  const path = join(await tempDir(), 'l');
  return { store: await LayoutStore.open(path, { create: true }), path };
}

async function attest(store: ContentStore, mode: 'buildkit' | 'buildkit-artifact' | 'referrers') {
  const made = await makeImage(store, { tag: 'v1' });
  const attested = made.manifests.map((m) => ({
    manifest: m,
    statements: [
      statement('https://spdx.dev/Document', { spdxVersion: 'SPDX-2.3', name: m.digest }, [{ name: 'img', digest: m.digest }]),
      provenance(
        {
          configFiles: [{ path: 'image.yaml', sha256: '00', content: 'contents: {}\n' }],
          archs: ['x86_64'],
          sourceDateEpoch: 0,
          fromLock: false,
          indexes: [],
          packages: [],
          keys: [],
          builderId: 'https://provenant.dev/builder/local',
          toolVersion: '0.1.0',
          byproducts: [],
          mode: 'min',
        },
        { name: 'img', digest: m.digest },
      ),
    ],
  }));
  const index = await storeAttestations(store, made.root, attested, mode);
  await store.putManifest(index, { tags: ['v1'] });
  return { made, index };
}

describe('attestation storage', () => {
  it("writes BuildKit's index form with the fields of the real BuildKit fixture", { skip: fixturesMissing }, async () => {
    const { store } = await layout();
    const { made, index } = await attest(store, 'buildkit');
    assert.equal(index.kind, 'index');
    const ours = (index as { index: ImageIndex }).index;
    const theirs = JSON.parse(
      await readFile(fixture('oci', 'buildkit-image-index_2-platforms-plus-attestation-manifests_legacy.json'), 'utf8'),
    ) as ImageIndex;
    assert.equal(ours.manifests.length, theirs.manifests.length);
    for (let i = 0; i < ours.manifests.length; i++) {
      const [o, t] = [ours.manifests[i], theirs.manifests[i]];
      assert.ok(o && t);
      assert.deepEqual(Object.keys(o).sort(), Object.keys(t).sort(), `entry ${i} has BuildKit's fields`);
      assert.equal(o.mediaType, t.mediaType);
      assert.deepEqual(Object.keys(o.annotations ?? {}).sort(), Object.keys(t.annotations ?? {}).sort());
      if (t.annotations !== undefined) {
        assert.deepEqual(o.platform, t.platform);
        assert.equal(o.annotations?.['vnd.docker.reference.type'], 'attestation-manifest');
        assert.equal(o.annotations?.['vnd.docker.reference.digest'], made.manifests[i - 2]?.digest);
      }
    }
    const attManifest = (await store.getManifest(ours.manifests[2]?.digest ?? '')) as { manifest: ImageManifest };
    const real = JSON.parse(await readFile(fixture('oci', 'buildkit-legacy-attestation-manifest_amd64.json'), 'utf8')) as ImageManifest;
    assert.deepEqual(Object.keys(attManifest.manifest).sort(), Object.keys(real).sort());
    assert.equal(attManifest.manifest.config.mediaType, real.config.mediaType);
    assert.deepEqual(
      attManifest.manifest.layers.map((l) => [l.mediaType, Object.keys(l.annotations ?? {})]),
      [
        ['application/vnd.in-toto+json', ['in-toto.io/predicate-type']],
        ['application/vnd.in-toto+json', ['in-toto.io/predicate-type']],
      ],
    );
    const cfg = JSON.parse(
      Buffer.concat(
        await (async () => {
          const p: Uint8Array[] = [];
          for await (const c of await store.readBlob(attManifest.manifest.config)) p.push(c);
          return p;
        })(),
      ).toString(),
    );
    const realCfg = JSON.parse(await readFile(fixture('oci', 'buildkit-legacy-attestation-image-config_unknown-unknown.json'), 'utf8'));
    assert.deepEqual(Object.keys(cfg).sort(), Object.keys(realCfg).sort());
    assert.deepEqual(
      cfg.rootfs.diff_ids,
      attManifest.manifest.layers.map((l) => l.digest),
    );
    // inspect finds them under the image they describe.
    const seen = await inspectImage(store, 'v1', 'img');
    assert.equal(seen.manifests.length, 2);
    for (const m of seen.manifests) {
      assert.deepEqual(
        m.attachments.map((a) => [a.storage, a.predicateTypes]),
        [['buildkit', ['https://spdx.dev/Document', 'https://slsa.dev/provenance/v1']]],
      );
    }
  });

  it("writes BuildKit 0.32's OCI-artifact form: index entries as BuildKit lists them, manifests as its real one", {
    skip: fixturesMissing,
  }, async () => {
    const { store } = await layout();
    const { made, index } = await attest(store, 'buildkit-artifact');
    assert.equal(index.kind, 'index');
    const entries = (index as { index: ImageIndex }).index.manifests;
    assert.equal(entries.length, 4);
    const legacy = JSON.parse(
      await readFile(fixture('oci', 'buildkit-image-index_2-platforms-plus-attestation-manifests_legacy.json'), 'utf8'),
    ) as ImageIndex;
    const real = JSON.parse(
      await readFile(fixture('oci', 'buildkit-oci-artifact-attestation-manifest_spdx2-slsa1_ecr-public.json'), 'utf8'),
    ) as ImageManifest;
    for (const [i, m] of made.manifests.entries()) {
      const entry = entries[i + 2]!;
      // BuildKit lists either form in the index the same way (writer.go's commitAttestationsManifest).
      assert.deepEqual(Object.keys(entry).sort(), Object.keys(legacy.manifests[i + 2]!).sort());
      assert.deepEqual(entry.platform, { architecture: 'unknown', os: 'unknown' });
      assert.equal(entry.annotations?.['vnd.docker.reference.type'], 'attestation-manifest');
      assert.equal(entry.annotations?.['vnd.docker.reference.digest'], m.digest);
      const att = await store.getManifest(entry.digest);
      assert.equal(att.kind, 'manifest');
      if (att.kind !== 'manifest') continue;
      assert.deepEqual(Object.keys(att.manifest), Object.keys(real), "the real manifest's fields, in its order");
      assert.equal(att.manifest.artifactType, real.artifactType);
      assert.deepEqual(att.manifest.config, real.config, 'the empty descriptor, with its data');
      assert.deepEqual(att.manifest.subject, { mediaType: m.mediaType, digest: m.digest, size: m.bytes.byteLength });
      assert.deepEqual(
        att.manifest.layers.map((l) => [l.mediaType, Object.keys(l.annotations ?? {})]),
        real.layers.slice(1).map((l) => [l.mediaType, Object.keys(l.annotations ?? {})]),
      );
    }
    // Listed in the index and a referrer of its image: inspect finds it under the image.
    const seen = await inspectImage(store, 'v1', 'img');
    for (const m of seen.manifests) {
      assert.ok(m.attachments.some((a) => a.storage === 'buildkit' && a.predicateTypes.includes('https://slsa.dev/provenance/v1')));
    }
  });

  it('adds an attestation that is in the index already once, and makes a Docker manifest list an OCI index', async () => {
    const { store } = await layout();
    const { made, index } = await attest(store, 'buildkit');
    assert.equal(index.kind, 'index');
    if (index.kind !== 'index') return;
    const attested = made.manifests.map((m) => ({
      manifest: m,
      statements: [
        statement('https://spdx.dev/Document', { spdxVersion: 'SPDX-2.3', name: m.digest }, [{ name: 'img', digest: m.digest }]),
      ],
    }));
    // The same statements again, onto the index that holds them: nothing new.
    const again = await storeAttestations(store, made.root, attested, 'buildkit');
    const once = await storeAttestations(store, again, attested, 'buildkit');
    assert.equal(once.digest, again.digest);
    // A Docker manifest list of the same images.
    const list = parseStored(
      encodeJson({ ...(made.root.kind === 'index' ? made.root.index : {}), mediaType: MediaType.DockerManifestList }),
      {
        mediaType: MediaType.DockerManifestList,
      },
    );
    await store.putManifest(list);
    const fromList = await storeAttestations(store, list, attested, 'buildkit');
    assert.equal(fromList.mediaType, MediaType.OciIndex);
    assert.equal(fromList.kind === 'index' ? fromList.index.mediaType : undefined, MediaType.OciIndex);
  });

  for (const mode of ['buildkit', 'buildkit-artifact'] as const) {
    it(`merges a second attach into the platform's one attestation manifest (${mode})`, async () => {
      const { store } = await layout();
      const { made, index: first } = await attest(store, mode);
      const entries = (i: typeof first) =>
        i.kind === 'index' ? i.index.manifests.filter((m) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') : [];
      const layersOf = async (digest: string) => {
        const s = await store.getManifest(digest);
        return s.kind === 'manifest' ? s.manifest.layers.map((l) => l.digest) : [];
      };
      const before = new Map<string, string[]>();
      for (const e of entries(first)) before.set(e.annotations?.['vnd.docker.reference.digest'] ?? '', await layersOf(e.digest));
      const more = made.manifests.map((m) => ({
        manifest: m,
        statements: [
          statement('https://cosign.sigstore.dev/attestation/vuln/v1', { m: m.digest }, [{ name: 'img', digest: m.digest }]),
          // One that is there already: not a second layer.
          statement('https://spdx.dev/Document', { spdxVersion: 'SPDX-2.3', name: m.digest }, [{ name: 'img', digest: m.digest }]),
        ],
      }));
      const second = await storeAttestations(store, first, more, mode);
      assert.notEqual(second.digest, first.digest);
      const after = entries(second);
      assert.equal(after.length, made.manifests.length, 'one attestation entry per platform');
      // In the place of the entries they replace, after the platform images.
      assert.deepEqual(
        second.kind === 'index' ? second.index.manifests.slice(0, made.manifests.length).map((m) => m.digest) : [],
        made.manifests.map((m) => m.digest),
      );
      for (const e of after) {
        const subject = e.annotations?.['vnd.docker.reference.digest'] ?? '';
        const layers = await layersOf(e.digest);
        const old = before.get(subject) ?? [];
        assert.equal(old.length, 2);
        assert.deepEqual(layers.slice(0, 2), old, 'the existing statements first');
        assert.equal(layers.length, 3);
      }
      await store.putManifest(second, { tags: ['v2'] });
      const seen = await inspectImage(store, 'v2', 'img');
      for (const m of seen.manifests) {
        const a = m.attachments.filter((x) => x.storage === 'buildkit');
        assert.equal(a.length, 1);
        assert.ok(a[0]?.predicateTypes.includes('https://cosign.sigstore.dev/attestation/vuln/v1'));
      }
      // The same statements again: the same index.
      const again = await storeAttestations(store, second, more, mode);
      assert.equal(again.digest, second.digest);
    });
  }

  it('merges the duplicate attestation manifests an older attach left into one', async () => {
    const { store } = await layout();
    const made = await makeImage(store, { tag: 'v1' });
    const one = (type: string) =>
      made.manifests.map((m) => ({ manifest: m, statements: [statement(type, { m: m.digest }, [{ name: 'i', digest: m.digest }])] }));
    const a = await storeAttestations(store, made.root, one('https://a'), 'buildkit');
    const b = await storeAttestations(store, made.root, one('https://b'), 'buildkit');
    if (a.kind !== 'index' || b.kind !== 'index') throw new Error('not an index');
    // Two entries per platform, as attaching twice wrote them before.
    const doubled = parseStored(
      encodeJson({ ...a.index, manifests: [...a.index.manifests, ...b.index.manifests.slice(made.manifests.length)] }),
      {
        mediaType: MediaType.OciIndex,
      },
    );
    const merged = await storeAttestations(store, doubled, one('https://b'), 'buildkit');
    await store.putManifest(merged, { tags: ['v2'] });
    const seen = await inspectImage(store, 'v2', 'i');
    for (const m of seen.manifests) {
      const found = m.attachments.filter((x) => x.storage === 'buildkit');
      assert.equal(found.length, 1);
      assert.deepEqual(found[0]?.predicateTypes, ['https://a', 'https://b']);
    }
  });

  it('keeps the index clean in referrers mode; inspect finds them through the layout index', async () => {
    const { store } = await layout();
    const { made, index } = await attest(store, 'referrers');
    assert.equal(index.digest, made.root.digest);
    const seen = await inspectImage(store, 'v1', 'img');
    for (const m of seen.manifests) {
      assert.equal(m.attachments.length, 1);
      assert.equal(m.attachments[0]?.storage, 'referrers');
      assert.equal(m.attachments[0]?.artifactType, 'application/vnd.docker.attestation.manifest.v1+json');
    }
  });

  it('writes the blobs together (as many at once as its concurrency), each once, and the attestation manifests after them', async () => {
    for (const [concurrency, together] of [
      [undefined, 4],
      [8, 5],
      [2, 2],
    ] as const)
      await writesTogether(concurrency, together);
  });

  /** 5 blobs written, at most `together` at once, given `concurrency`. */
  const writesTogether = async (concurrency: number | undefined, together: number) => {
    const { store } = await layout();
    const made = await makeImage(store, { tag: 'v1' });
    const attested = made.manifests.map((m) => ({
      manifest: m,
      statements: ['https://spdx.dev/Document', 'https://cyclonedx.org/bom'].map((type) =>
        statement(type, { m: m.digest }, [{ name: 'i', digest: m.digest }]),
      ),
    }));
    // The writes under way, and the order of blobs and manifests; a blob write waits a turn
    // first, so that writes made together are under way together.
    let running = 0;
    let most = 0;
    const events: string[] = [];
    const watched: ContentStore = Object.create(store, {
      putBlob: {
        value: async (...args: Parameters<ContentStore['putBlob']>) => {
          running++;
          most = Math.max(most, running);
          events.push(args[0].descriptor.digest);
          await new Promise((r) => setImmediate(r));
          try {
            return await store.putBlob(...args);
          } finally {
            running--;
          }
        },
      },
      putManifest: {
        value: async (...args: Parameters<ContentStore['putManifest']>) => {
          events.push('manifest');
          return store.putManifest(...args);
        },
      },
    });
    await storeAttestations(watched, made.root, attested, 'referrers', concurrency === undefined ? {} : { concurrency });
    // Two platform images of two statements each, and the empty config their manifests share.
    const blobs = events.filter((e) => e !== 'manifest');
    assert.equal(blobs.length, 5);
    assert.equal(new Set(blobs).size, 5, 'each blob once');
    // Together (one after another, a build's few small writes were a wait of their own, issue 16),
    // and no more at once than copyImage opens (4 unless told).
    assert.equal(most, together, `at once, with concurrency ${concurrency}`);
    assert.deepEqual(events.slice(5), ['manifest', 'manifest']);
  };

  it('refuses cosign storage until signing exists, writing nothing', async () => {
    const { store } = await layout();
    const made = await makeImage(store, { tag: 'v1' });
    const attested = made.manifests.map((m) => ({ manifest: m, statements: [statement('x', {}, [{ name: 'i', digest: m.digest }])] }));
    await assert.rejects(storeAttestations(store, made.root, attested, 'cosign'), (err: unknown) => isProvenantError(err, 'USAGE'));
  });

  describe('through the real registry (distribution 2.8)', { skip: registryMissing }, () => {
    const reg = useRegistry();
    const remote = (repo: string) =>
      new RegistryStore(new RegistryClient(reg.host, { retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 100 } }), repo);

    it('finds referrers-mode attestations again through the tag fallback', async () => {
      const store = remote('att/referrers');
      const { made } = await attest(store, 'referrers');
      const tags = await store.listTags();
      for (const m of made.manifests) assert.ok(tags.includes(m.digest.replace(':', '-')), `fallback tag for ${m.digest}`);
      const seen = await inspectImage(remote('att/referrers'), 'v1', 'img');
      for (const m of seen.manifests)
        assert.deepEqual(
          m.attachments.map((a) => a.storage),
          ['referrers'],
        );
      // sbom finds the attached SPDX document through the fallback too.
      const sbom = await imageSbom(remote('att/referrers'), 'v1', 'img', {
        toolVersion: '0',
        platform: { os: 'linux', architecture: 'arm64' },
      });
      assert.equal(sbom.generated, false);
      assert.deepEqual(sbom.document, { spdxVersion: 'SPDX-2.3', name: made.manifests[1]?.digest });
    });

    it('keeps BuildKit-form attestations through skopeo copy --all', { skip: fixturesMissing }, async () => {
      const { store, path } = await layout();
      const { index } = await attest(store, 'buildkit');
      await store.close();
      await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${path}:v1`, `docker://${reg.host}/att/buildkit:v1`]);
      const seen = await inspectImage(remote('att/buildkit'), 'v1', 'img');
      assert.equal(seen.digest, index.digest);
      for (const m of seen.manifests) assert.equal(m.attachments.filter((a) => a.storage === 'buildkit').length, 1);
    });
  });
});

describe('attestationReferrer', () => {
  it('refuses a statement given by source, which its caller would name and never write', async () => {
    const { store } = await layout();
    const made = await makeImage(store, { tag: 'v1' });
    const manifest = made.manifests[0]!;
    const inMemory = statement('https://spdx.dev/Document', { name: 'a' }, [{ name: 'img', digest: manifest.digest }]);
    const bytes = statement('https://spdx.dev/Document', { name: 'b' }, [{ name: 'img', digest: manifest.digest }]).bytes;
    const source = {
      predicateType: 'https://spdx.dev/Document',
      blob: bytesSource({ mediaType: MediaType.InToto, digest: digestOf(bytes), size: bytes.length }, bytes),
    };
    // The blobs it returns are what is written: each statement's bytes, and the empty config.
    const referrer = attestationReferrer({ manifest, statements: [inMemory] });
    assert.equal(referrer?.blobs.length, 2);
    // A JavaScript caller, or a cast, can pass a StatementSource where the type says StatementBlob.
    const mixed = { manifest, statements: [inMemory, source] } as unknown as Attested;
    assert.throws(() => attestationReferrer(mixed), /^Error: internal: attestationReferrer takes statements as bytes.*sha256:/);
  });
});
