// `provenant diff` through the CLI: two builds with one package changed, an image with itself, and trouble exiting 2 or more.
import assert from 'node:assert/strict';
import { cp, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { statement } from '../../src/attest/storage.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { readStatements } from '../../src/image/statements.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { attestImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { useTempDir } from '../helpers/temp.ts';
import { file, layer, putImage, putIndex } from '../image/diff-helpers.ts';
import {
  buildAndDescribe,
  EPOCH,
  packages,
  repositoryKey,
  writeConfig,
  writeRepository,
  writeWithAttestations,
} from '../reproduce/helpers.ts';
import { provenantAsync as provenant } from './provenant-async.ts';

const tempDir = useTempDir('cli-diff');

describe('provenant diff', () => {
  let dir: string;
  let layout: string;
  before(async () => {
    dir = await tempDir();
    layout = join(dir, 'layout');
    const key = repositoryKey();
    const store = await LayoutStore.open(layout, { create: true });
    // Two builds of the same configuration; the second repository's `data` is the same name
    // and version with other bytes in one file.
    for (const [tag, text] of [
      ['a', 'alpha\nbeta\ngamma\n'],
      ['b', 'alpha\nBETA\ngamma\n'],
    ] as const) {
      const root = join(dir, tag);
      await writeRepository(join(root, 'served'), key, (arch) => packages(arch, text));
      const config = await writeConfig(root, key, '../../served/repo');
      await writeWithAttestations(store, await buildAndDescribe(config, 'example/app'), tag);
      // The first built again a day later: only its timestamps differ (file times, created, SOURCE_DATE_EPOCH).
      if (tag === 'a') await writeWithAttestations(store, await buildAndDescribe(config, 'example/app', EPOCH + 86_400), 'a-later');
    }
    // An image whose layer is not a tar: reading it is trouble, not a difference.
    const broken = await layer([]);
    broken.bytes = new TextEncoder().encode('this is not a tar archive, and not compressed either....');
    broken.descriptor = { ...broken.descriptor, digest: digestOf(broken.bytes), size: broken.bytes.length };
    await putImage(store, [broken], { tag: 'broken' });
    // Two indexes with the same amd64 image and different arm64 images.
    const amd64 = { os: 'linux', architecture: 'amd64' };
    const arm64 = { os: 'linux', architecture: 'arm64' };
    const amd = await putImage(store, [await layer([file('arch', 'amd64')])]);
    for (const tag of ['one', 'two']) {
      const arm = await putImage(store, [await layer([file('arch', `arm64 ${tag}`)])], { platform: arm64 });
      await putIndex(
        store,
        [
          { stored: amd, platform: amd64 },
          { stored: arm, platform: arm64 },
        ],
        `multi-${tag}`,
      );
    }
    await store.close();
  });

  it('names the package that changed, its files and its layer, and exits 1', async () => {
    const r = await provenant(['diff', '--platform', 'linux/amd64', `oci:${layout}:a`, `oci:${layout}:b`]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^ {4}~ data 2\.1-r3 .*rebuilt/m);
    assert.match(
      r.stdout,
      /^ {4}~ \/usr\/share\/data\/values\.txt {2}sha256 [0-9a-f]{12} → [0-9a-f]{12} {2}\(layer \d+ sha256:[0-9a-f]{12} → \d+ sha256:[0-9a-f]{12}; data\)/m,
    );
    const json = await provenant(['diff', '--platform', 'linux/amd64', '--format', 'json', `oci:${layout}:a`, `oci:${layout}:b`]);
    assert.equal(json.status, 1, json.stderr);
    const diff = JSON.parse(json.stdout);
    assert.equal(diff.identical, false);
    const [image] = diff.images;
    assert.deepEqual(
      image.packages.changed.map((p: { name: string; fields: string[] }) => [p.name, p.fields]),
      [['data', ['checksum']]],
    );
    assert.deepEqual(image.packages.changed[0].files, ['/usr/share/data/values.txt']);
    const changed = image.files.changed.find((f: { path: string }) => f.path === '/usr/share/data/values.txt');
    assert.equal(changed.package, 'data');
    // The layer that holds the file differs, and the text names it whole.
    const layers = (side: { digest: string }[]) => side.map((l) => l.digest);
    assert.ok(layers(image.layers.onlyA).includes(changed.a.layerDigest));
    assert.ok(layers(image.layers.onlyB).includes(changed.b.layerDigest));
    assert.match(r.stdout, new RegExp(`^ {4}- ${changed.a.layer} ${changed.a.layerDigest} `, 'm'));
    assert.match(r.stdout, new RegExp(`^ {4}\\+ ${changed.b.layer} ${changed.b.layerDigest} `, 'm'));

    // A text diff on request.
    const text = await provenant(['diff', '--platform', 'linux/amd64', '--text-diff', `oci:${layout}:a`, `oci:${layout}:b`]);
    assert.match(text.stdout, /^ {8}-beta\n {8}\+BETA$/m);
  });

  it('prints only "identical" and exits 0 for an image and itself', async () => {
    const r = await provenant(['diff', `oci:${layout}:a`, `oci:${layout}:a`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'identical\n');
    assert.equal(r.stderr, '');
  });

  it('with --ignore-timestamps, exits 0 for a rebuild that differs only in when it was made, and 1 for one that differs in more', async () => {
    const [a, later, b] = ['a', 'a-later', 'b'].map((t) => `oci:${layout}:${t}`) as [string, string, string];
    const strict = await provenant(['diff', '--format', 'json', a, later]);
    assert.equal(strict.status, 1, strict.stderr);
    const [image] = JSON.parse(strict.stdout).images;
    // What the timestamps change: every layer, the created times and the provenance's SOURCE_DATE_EPOCH.
    assert.equal(image.layers.shared.length, 0);
    assert.deepEqual(
      image.config.map((c: { field: string }) => c.field),
      ['created', 'history[0].created'],
    );
    assert.deepEqual(
      image.provenance.changes.map((c: { field: string }) => c.field),
      ['parameters.externalParameters.sourceDateEpoch'],
    );
    const r = await provenant(['diff', '--ignore-timestamps', a, later]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^identical but for timestamps\n--- a: .*\n\+\+\+ b: .*\nlinux\/amd64: identical but for timestamps \(sha256:\S+ → sha256:\S+\)$/m,
    );
    const json = JSON.parse((await provenant(['diff', '--ignore-timestamps', '--format', 'json', a, later])).stdout);
    assert.equal(json.identical, true);
    assert.notEqual(json.a.digest, json.b.digest);
    assert.deepEqual(json.annotations, []);
    // One file's bytes still count, and so do its layer and package.
    const other = await provenant(['diff', '--ignore-timestamps', later, b]);
    assert.equal(other.status, 1, other.stderr);
    assert.match(other.stdout, /^ {4}~ \/usr\/share\/data\/values\.txt {2}sha256 /m);
    assert.doesNotMatch(other.stdout, /sourceDateEpoch|image\.created|mtime/);
  });

  it('exits 0 when the platform asked for is identical, whatever the rest of the indexes holds', async () => {
    const amd64 = await provenant(['diff', '--platform', 'linux/amd64', `oci:${layout}:multi-one`, `oci:${layout}:multi-two`]);
    assert.equal(amd64.status, 0, amd64.stderr);
    assert.equal(amd64.stdout, 'identical\n');
    const arm64 = await provenant(['diff', '--platform', 'linux/arm64', `oci:${layout}:multi-one`, `oci:${layout}:multi-two`]);
    assert.equal(arm64.status, 1, arm64.stderr);
  });

  it('exits 2 or more on trouble, never 1: a missing image 3, a bad flag 2, a layer that is not a tar 2', async () => {
    const missing = await provenant(['diff', `oci:${layout}:a`, `oci:${layout}:nothing`]);
    assert.equal(missing.status, 3, missing.stderr);
    assert.match(missing.stderr, /^provenant diff: .*nothing/);
    const usage = await provenant(['diff', `oci:${layout}:a`]);
    assert.equal(usage.status, 2, usage.stderr);
    // INVALID_ARCHIVE is exit 1 for other commands.
    const broken = await provenant(['diff', `oci:${layout}:a`, `oci:${layout}:broken`]);
    assert.equal(broken.status, 2, broken.stderr);
    assert.match(broken.stderr, /^provenant diff: /);
  });

  it("of two SLSA statements on a platform compares the build's own, the one inspect shows, and warns as inspect does", async () => {
    // A copy of the layout: a-later's image gets a second provenance, signed (read before the
    // build's unsigned referrer by a walk of the signatures), that claims other materials.
    const copy = join(await tempDir(), 'layout');
    await cp(layout, copy, { recursive: true });
    const store = await LayoutStore.open(copy);
    try {
      const [image] = (await inspectImage(store, 'a-later', 'img')).manifests;
      const own = image?.attachments.find((x) => x.predicateTypes.some((t) => t.startsWith('https://slsa.dev/provenance/')));
      assert.ok(image !== undefined && own !== undefined, 'the build attached its provenance');
      const built = (await readStatements(store, own)).find((x) => x.predicateType.startsWith('https://slsa.dev/provenance/'));
      assert.ok(built !== undefined);
      const predicate = structuredClone(built.statement.predicate) as {
        buildDefinition?: { resolvedDependencies: unknown[] };
        materials?: unknown[];
      };
      const materials = [{ uri: 'pkg:apk/other@1?arch=aarch64', digest: { sha256: '0'.repeat(64) } }];
      if (predicate.buildDefinition !== undefined) predicate.buildDefinition.resolvedDependencies = materials;
      else predicate.materials = materials;
      const signer = new KeySigner(generateSigningKeyPair().privateKey);
      const other = statement(built.predicateType, predicate, [{ name: 'img', digest: image.digest }]);
      await attestImage(store, image.digest, [other], { signer, storage: 'referrers' });
    } finally {
      await store.close();
    }
    const [a, later] = ['a', 'a-later'].map((t) => `oci:${copy}:${t}`) as [string, string];
    const inspect = await provenant(['inspect', '--format', 'json', later]);
    assert.equal(inspect.status, 0, inspect.stderr);
    const taken = /2 SLSA provenance statements are attached to the linux\/amd64 image; using the first, from (referrer sha256:\S+)/.exec(
      inspect.stderr,
    );
    assert.ok(taken, inspect.stderr);
    // The attestation added is a difference (exit 1); the provenance compared is the build's, the same.
    const r = await provenant(['diff', '--ignore-timestamps', '--format', 'json', a, later]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    type Compared = { platform: string; provenance: { changes: unknown[]; dependencies: unknown } };
    const amd64 = (JSON.parse(r.stdout) as { images: Compared[] }).images.find((x) => x.platform === 'linux/amd64');
    assert.ok(amd64 !== undefined, r.stdout);
    assert.deepEqual(amd64.provenance.changes, []);
    assert.deepEqual(amd64.provenance.dependencies, { added: [], removed: [], changed: [] });
    assert.ok(
      r.stderr.includes(
        `2 SLSA provenance statements are attached to the linux/amd64 image of ${later}; using the first, from ${taken[1]}`,
      ),
      r.stderr,
    );
  });

  it('names the layout as each argument spells it: a tag missing through a link to it, or not', async () => {
    const link = join(dir, 'link');
    await symlink(layout, link);
    for (const [first, second, named] of [
      [`oci:${link}:a`, `oci:${layout}:nope`, `oci:${layout}`],
      [`oci:${layout}:a`, `oci:${link}:nope`, `oci:${link}`],
    ] as const) {
      const run = await provenant(['diff', first, second]);
      assert.equal(run.status, 3, run.stderr);
      assert.ok(run.stderr.includes(`tag nope is not in the layout (${named})`), run.stderr);
    }
  });
});
