/**
 * The name `provenant attest REF` gives the image in its statements' subjects: the repository (or
 * the layout) without the tag REF names it by, as `build` names an image and cosign's `attest` a
 * subject (statementImageName), so attaching through a second tag of the image gives the same
 * statement, not a second one.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { collectBytes } from '../../src/bytes.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { EPOCH, writeFixtureRepo } from '../action/fixture-repo.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { provenant } from './provenant.ts';

const temp = useTempDir('cli-attest-name');
const env = { SOURCE_DATE_EPOCH: String(EPOCH) };
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';

/** The subjects' names of every vuln statement attached (as a referrer) to the platform images `tag` names in `store`. */
async function subjectNames(store: ContentStore, tag: string): Promise<string[]> {
  try {
    const root = await store.getManifest(tag);
    assert.equal(root.kind, 'index');
    if (root.kind !== 'index') return [];
    const names: string[] = [];
    for (const image of root.index.manifests) {
      for (const r of await store.referrers(image.digest)) {
        const stored = await store.getManifest(r.digest);
        if (stored.kind !== 'manifest') continue;
        for (const layer of stored.manifest.layers) {
          if (layer.annotations?.['in-toto.io/predicate-type'] !== VULN) continue;
          const statement = JSON.parse(new TextDecoder().decode(await collectBytes(await store.readBlob(layer)))) as {
            subject: { name: string }[];
          };
          names.push(...statement.subject.map((s) => s.name));
        }
      }
    }
    return names;
  } finally {
    await store.close();
  }
}

/** Builds the fixture as `v1` and `v2` of `base` (one image, two tags), then attests it through each tag. */
async function buildAndAttestTwice(base: string): Promise<void> {
  const dir = await temp();
  const config = await writeFixtureRepo(dir);
  const predicate = join(dir, 'scan.json');
  await writeFile(predicate, '{"scanner":{"uri":"example.org/scanner"}}');
  for (const tag of ['v1', 'v2']) {
    const r = await provenant(
      ['build', config, '-o', `${base}:${tag}`, '--platform', 'linux/amd64', '--sbom', 'false', '--provenance', 'false'],
      {
        env,
      },
    );
    assert.equal(r.status, 0, r.stderr);
  }
  for (const tag of ['v1', 'v2']) {
    const r = await provenant(['attest', `${base}:${tag}`, '--predicate', predicate, '--type', 'vuln'], { env });
    assert.equal(r.status, 0, r.stderr);
  }
}

describe('provenant attest, the name the statement gives the image', () => {
  it('a layout by its path: the tag is left out, so a second tag attaches the same statement', async () => {
    const path = join(await temp(), 'out');
    await buildAndAttestTwice(`oci:${path}`);
    assert.deepEqual(await subjectNames(await LayoutStore.open(path), 'v2'), [`oci:${path}`]);
  });

  describe('in a registry', { skip: registryMissing }, () => {
    const reg = useRegistry();

    it('by its repository without the tag, as build and cosign name it', async () => {
      await buildAndAttestTwice(`${reg.host}/acme/attested`);
      assert.deepEqual(await subjectNames(new RegistryStore(new RegistryClient(reg.host), 'acme/attested'), 'v2'), [
        `${reg.host}/acme/attested`,
      ]);
    });
  });
});
