// build and attest with --attestations buildkit-artifact: BuildKit 0.32's in-index OCI-artifact form, through the CLI.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ArtifactType, isBuildkitAttestation } from '../../src/attest/attachments.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { writeFixtureRepo } from '../action/fixture-repo.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { provenant } from './provenant.ts';

const temp = useTempDir('cli-att');
const EPOCH = { SOURCE_DATE_EPOCH: '1700000000' };

/** The in-index attestation entries of `ref`'s index, each with its manifest. */
async function inIndex(path: string, tag: string) {
  const store = await LayoutStore.open(path);
  try {
    const root = await store.getManifest(tag);
    assert.equal(root.kind, 'index');
    if (root.kind !== 'index') return [];
    const out = [];
    for (const e of root.index.manifests.filter(isBuildkitAttestation)) out.push({ entry: e, stored: await store.getManifest(e.digest) });
    return out;
  } finally {
    await store.close();
  }
}

describe('--attestations buildkit-artifact', () => {
  let dir: string;
  let config: string;
  before(async () => {
    dir = await temp();
    config = await writeFixtureRepo(dir);
  });

  it('build writes the attestations in the index as OCI artifacts about their platform manifests', async () => {
    const r = await provenant(
      ['build', config, '-o', `oci:${join(dir, 'art')}:v1`, '--attestations', 'buildkit-artifact', '--format', 'json'],
      {
        env: EPOCH,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const built = JSON.parse(r.stdout) as { images: { digest: string }[] };
    const entries = await inIndex(join(dir, 'art'), 'v1');
    assert.equal(entries.length, 2);
    for (const [i, { entry, stored }] of entries.entries()) {
      assert.deepEqual(entry.platform, { architecture: 'unknown', os: 'unknown' });
      assert.equal(stored.kind, 'manifest');
      if (stored.kind !== 'manifest') continue;
      assert.equal(stored.manifest.artifactType, ArtifactType.BuildkitAttestation);
      assert.equal(stored.manifest.subject?.digest, built.images[i]!.digest);
      assert.equal(entry.annotations?.['vnd.docker.reference.digest'], built.images[i]!.digest);
    }
    // The legacy form differs only in the attestation manifests: the same images.
    const legacy = await provenant(
      ['build', config, '-o', `oci:${join(dir, 'legacy')}:v1`, '--attestations', 'buildkit', '--format', 'json'],
      {
        env: EPOCH,
      },
    );
    assert.equal(legacy.status, 0, legacy.stderr);
    const old = JSON.parse(legacy.stdout) as { digest: string; images: { digest: string }[] };
    assert.deepEqual(
      old.images.map((i) => i.digest),
      built.images.map((i) => i.digest),
    );
    for (const { stored } of await inIndex(join(dir, 'legacy'), 'v1')) {
      assert.ok(stored.kind === 'manifest' && stored.manifest.subject === undefined && stored.manifest.artifactType === undefined);
    }
  });

  it('writes the same attestations to any local folder, naming none of them', async () => {
    const built = [];
    for (const name of ['here', 'there']) {
      const r = await provenant(['build', config, '-o', `oci:${join(dir, name)}:v1`, '--attestations', 'buildkit', '--format', 'json'], {
        env: EPOCH,
      });
      assert.equal(r.status, 0, r.stderr);
      const entries = await inIndex(join(dir, name), 'v1');
      assert.equal(entries.length, 2);
      built.push(entries.map((e) => e.entry.digest));
      for (const { stored } of entries) assert.doesNotMatch(new TextDecoder().decode(stored.bytes), new RegExp(name));
    }
    assert.deepEqual(built[0], built[1]);
  });

  it('attest adds a statement in that form, and inspect finds it under each image', async () => {
    const ref = `oci:${join(dir, 'plain')}:v1`;
    let r = await provenant(['build', config, '-o', ref, '--attestations', 'none'], { env: EPOCH });
    assert.equal(r.status, 0, r.stderr);
    const predicate = join(dir, 'vuln.json');
    await import('node:fs/promises').then((fs) => fs.writeFile(predicate, '{"scanner":{"uri":"https://example.test/scanner"}}'));
    r = await provenant(['attest', ref, '--predicate', predicate, '--type', 'vuln', '--attestations', 'buildkit-artifact']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\(buildkit-artifact, unsigned\)/);
    const entries = await inIndex(join(dir, 'plain'), 'v1');
    assert.equal(entries.length, 2);
    for (const { stored } of entries)
      assert.ok(stored.kind === 'manifest' && stored.manifest.artifactType === ArtifactType.BuildkitAttestation);
    const inspect = await provenant(['inspect', ref, '--format', 'json']);
    assert.equal(inspect.status, 0, inspect.stderr);
    const seen = JSON.parse(inspect.stdout) as { manifests: { attachments: { storage: string; predicateTypes: string[] }[] }[] };
    for (const m of seen.manifests) {
      assert.ok(m.attachments.some((a) => a.storage === 'buildkit' && a.predicateTypes.some((t) => t.includes('vuln'))));
      // In the index and a referrer of its image at once: listed once.
      assert.equal(m.attachments.length, 1, JSON.stringify(m.attachments));
    }
  });

  it("attest --platform unknown/unknown says those are BuildKit's attestation manifests and names the images' platforms", async () => {
    const ref = `oci:${join(dir, 'unknown')}:v1`;
    let r = await provenant(['build', config, '-o', ref, '--attestations', 'buildkit', '--sbom', 'false'], { env: EPOCH });
    assert.equal(r.status, 0, r.stderr);
    const predicate = join(dir, 'unknown.json');
    await import('node:fs/promises').then((fs) => fs.writeFile(predicate, '{}'));
    r = await provenant(['attest', ref, '--predicate', predicate, '--type', 'vuln', '--platform', 'unknown/unknown']);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /unknown\/unknown names BuildKit's attestation manifests in the index, not an image/);
    assert.match(r.stderr, /hint: .*linux\/amd64, linux\/arm64/);
    assert.equal((await inIndex(join(dir, 'unknown'), 'v1')).length, 2, 'the index is as built');
    // Verifying there is refused alike: not BuildKit's manifest checked itself, nor "attest it first".
    const keys = join(dir, 'unknown-keys');
    await import('node:fs/promises').then((fs) => fs.mkdir(keys));
    const password = { COSIGN_PASSWORD: 'x' };
    r = await provenant(['generate-key-pair'], { cwd: keys, env: password });
    assert.equal(r.status, 0, r.stderr);
    for (const command of ['verify-attestation', 'verify']) {
      r = await provenant([command, ref, '--platform', 'unknown/unknown', '--key', join(keys, 'cosign.pub')]);
      assert.equal(r.status, 3, r.stderr);
      assert.match(r.stderr, /unknown\/unknown names BuildKit's attestation manifests in the index, not an image/);
      assert.match(r.stderr, /hint: verify one of its images by its platform: .*linux\/amd64, linux\/arm64/);
    }
  });

  it('refuses a storage it does not know, naming the ones it does', async () => {
    const r = await provenant(['build', config, '-o', `oci:${join(dir, 'x')}:v1`, '--attestations', 'buildkit-oci']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /referrers, buildkit, buildkit-artifact, cosign, none/);
  });

  // The index written in BuildKit's storages is the built one with the attestation entries added.
  for (const mode of ['buildkit', 'buildkit-artifact']) {
    it(`${mode}, signed: the index's SBOM is a signed referrer of the index written, which lists the platform statements; sbom, inspect and report read each statement once`, async () => {
      const env = { ...EPOCH, COSIGN_PASSWORD: 'pw' };
      const keys = join(dir, `keys-${mode}`);
      await mkdir(keys);
      assert.equal((await provenant(['generate-key-pair'], { cwd: keys, env })).status, 0);
      const out = `oci:${join(dir, `${mode}-signed`)}:v1`;
      const r = await provenant(
        ['build', config, '-o', out, '--attestations', mode, '--sign', '--key', join(keys, 'cosign.key'), '--format', 'json'],
        { env },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /SBOM is not written/);
      const digest = (JSON.parse(r.stdout) as { digest: string }).digest;
      assert.equal((await inIndex(join(dir, `${mode}-signed`), 'v1')).length, 2, 'the platform statements are in the index');
      const v = await provenant(['verify-attestation', '--key', join(keys, 'cosign.pub'), '--type', 'spdxjson', '--format', 'json', out], {
        env,
      });
      assert.equal(v.status, 0, v.stderr);
      // The platform images' SBOMs are checked too; one is about the index written, and verifies.
      type Checked = { verified: boolean; statement: { subjects: { digest: { sha256: string } }[] } };
      const checked = (JSON.parse(v.stdout) as { checked: Checked[] }).checked;
      const aboutIndex = checked.filter((c) => c.statement.subjects.some((x) => `sha256:${x.digest.sha256}` === digest));
      assert.deepEqual(
        aboutIndex.map((c) => c.verified),
        [true],
        v.stdout,
      );
      // Each platform statement is stored twice by design, in the index (which the index's
      // signature covers) and as its signed bundle: one statement, said once, not two that differ.
      const sbom = await provenant(['sbom', '--platform', 'linux/arm64', out]);
      assert.equal(sbom.status, 0, sbom.stderr);
      assert.equal((JSON.parse(sbom.stdout) as { spdxVersion: string }).spdxVersion, 'SPDX-2.3');
      assert.doesNotMatch(sbom.stderr, /statements are attached/);
      const inspect = await provenant(['inspect', '--format', 'json', out]);
      assert.equal(inspect.status, 0, inspect.stderr);
      assert.doesNotMatch(inspect.stderr, /statements are attached/);
      const human = await provenant(['inspect', out]);
      // The statements in the index carry no signature of their own; `build --sign` signs the
      // attestation manifest that holds them, as it signs the images, and inspect names that key.
      assert.match(human.stdout, /attestation buildkit .*\(in index\) +signed by .*key \S+/);
      assert.match(human.stdout, /attestation referrers .*https:\/\/spdx\.dev\/Document +\(referrer\) +signed by key/);
      const report = await provenant(['report', '--format', 'json', '--target', 'none', out]);
      assert.equal(report.status, 0, report.stderr);
      type Report = { notes: string[]; platforms: { sbom: { attachment: string }; provenance: { signed: boolean } }[] };
      const data = JSON.parse(report.stdout) as Report;
      assert.deepEqual(data.notes, []);
      const bundles = new Set<string>();
      const store = await LayoutStore.open(join(dir, `${mode}-signed`));
      try {
        for (const m of (JSON.parse(inspect.stdout) as { manifests: { digest: string }[] }).manifests) {
          for (const r of await store.referrers(m.digest as Digest)) {
            if (r.artifactType?.startsWith('application/vnd.dev.sigstore.bundle')) bundles.add(r.digest);
          }
        }
      } finally {
        await store.close();
      }
      for (const p of data.platforms) {
        assert.ok(bundles.has(p.sbom.attachment), `the report shows the signed copy: ${p.sbom.attachment}`);
        assert.equal(p.provenance.signed, true);
      }
    });

    it(`${mode}, unsigned: a warning says why the index's SBOM is not written and what to use`, async () => {
      const path = join(dir, `${mode}-unsigned`);
      const r = await provenant(['build', config, '-o', `oci:${path}:v1`, '--attestations', mode, '--quiet'], { env: EPOCH });
      assert.equal(r.status, 0, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `^warning: the index's SBOM is not written: --attestations ${mode} lists statements about platform images only.*add --sign.*--attestations referrers$`,
          'm',
        ),
      );
      assert.equal((await inIndex(path, 'v1')).length, 2);
      const store = await LayoutStore.open(path);
      try {
        assert.deepEqual(await store.referrers((await store.resolve('v1'))!.digest), [], 'nothing attached to the index');
      } finally {
        await store.close();
      }
    });
  }

  it("buildkit-artifact, unsigned, fixed for amazon-ecr (which refuses its statements as built): the same warning says why the index's SBOM is not written", async () => {
    const path = join(dir, 'buildkit-artifact-unsigned-ecr');
    const r = await provenant(['build', config, '-o', `oci:${path}:v1`, '--attestations', 'buildkit-artifact', '--target', 'amazon-ecr'], {
      env: EPOCH,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /written as fix makes it/, 'the target refused the image as built: a fix wrote it');
    assert.match(
      r.stderr,
      /^warning: the index's SBOM is not written: --attestations buildkit-artifact lists statements about platform images only.*add --sign.*--attestations referrers$/m,
    );
    const store = await LayoutStore.open(path);
    try {
      const index = (await store.resolve('v1'))!.digest;
      assert.deepEqual(await store.referrers(index), [], 'nothing attached to the index');
      assert.equal(await store.resolve(`sha256-${index.slice(7)}.att`), undefined, 'no .att image of the index');
    } finally {
      await store.close();
    }
  });

  // Signed, referrers storage holds each statement once, as its Sigstore bundle (as `attest
  // --sign` and cosign 3's attest store it); unsigned, as BuildKit's artifact-typed referrer.
  it('referrers, signed: each statement once, as its signed bundle, and sbom reads it without a warning of two', async () => {
    const env = { ...EPOCH, COSIGN_PASSWORD: 'pw' };
    const keys = join(dir, 'keys-referrers');
    await mkdir(keys);
    assert.equal((await provenant(['generate-key-pair'], { cwd: keys, env })).status, 0);
    const referrerTypes = async (path: string) => {
      const store = await LayoutStore.open(path);
      try {
        const root = await store.getManifest('v1');
        assert.equal(root.kind, 'index');
        const subjects = [root.digest, ...(root.kind === 'index' ? root.index.manifests.map((m) => m.digest) : [])];
        const types = [];
        for (const d of subjects) for (const r of await store.referrers(d)) types.push(r.artifactType);
        return types;
      } finally {
        await store.close();
      }
    };
    const signedPath = join(dir, 'referrers-signed');
    const signed = await provenant(
      ['build', config, '-o', `oci:${signedPath}:v1`, '--attestations', 'referrers', '--sign', '--key', join(keys, 'cosign.key')],
      { env },
    );
    assert.equal(signed.status, 0, signed.stderr);
    const types = await referrerTypes(signedPath);
    assert.ok(!types.includes(ArtifactType.BuildkitAttestation), `no unsigned statement beside the bundles: ${types.join(', ')}`);
    // Per platform image: its signature and one bundle per statement (SPDX, CycloneDX, provenance);
    // the index: its signature and its SBOM's bundle.
    assert.equal(types.filter((t) => t?.startsWith('application/vnd.dev.sigstore.bundle')).length, 2 * 4 + 2, types.join(', '));
    const sbom = await provenant(['sbom', `oci:${signedPath}:v1`]);
    assert.equal(sbom.status, 0, sbom.stderr);
    assert.doesNotMatch(sbom.stderr, /SBOM statements are attached/);
    const v = await provenant(
      ['verify-attestation', '--key', join(keys, 'cosign.pub'), '--platform', 'linux/arm64', `oci:${signedPath}:v1`],
      {
        env,
      },
    );
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /3 of 3 attestations verified/);
    // Unsigned, as before: one BuildKit-typed referrer per platform image, and one of the index (its SBOM).
    const unsignedPath = join(dir, 'referrers-unsigned');
    const unsigned = await provenant(['build', config, '-o', `oci:${unsignedPath}:v1`, '--attestations', 'referrers'], { env: EPOCH });
    assert.equal(unsigned.status, 0, unsigned.stderr);
    assert.deepEqual(await referrerTypes(unsignedPath), Array(3).fill(ArtifactType.BuildkitAttestation));
  });

  // Lambda takes one platform's manifest: the fix writes no index, so there is no index for an
  // SBOM to be about, signed or not, and the fix's account says the index was not carried.
  for (const mode of ['buildkit', 'buildkit-artifact']) {
    it(`${mode}, unsigned, fixed for aws-lambda (one platform's manifest, no index): no warning about an index's SBOM`, async () => {
      const path = join(dir, `${mode}-unsigned-lambda`);
      const r = await provenant(['build', config, '-o', `oci:${path}:v1`, '--attestations', mode, '--target', 'aws-lambda'], {
        env: EPOCH,
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /Not carried: index sha256:[0-9a-f]{12}, because the target takes a single manifest/);
      assert.doesNotMatch(r.stderr, /index's SBOM/);
      const store = await LayoutStore.open(path);
      try {
        assert.equal((await store.getManifest('v1')).kind, 'manifest', 'the image written is one manifest');
      } finally {
        await store.close();
      }
    });
  }

  // Artifactory before 7.11.1 reads Docker schema 2 only: the fix writes an index and images of its
  // own, and the statements the build made about its own are left out of the fixed image.
  for (const mode of ['buildkit-artifact', 'referrers']) {
    it(`${mode}, signed, fixed for artifactory@6.23.38 (Docker media types): every statement is made again about the manifest written`, async () => {
      const env = { ...EPOCH, COSIGN_PASSWORD: 'pw' };
      const keys = join(dir, `keys-docker-${mode}`);
      await mkdir(keys);
      assert.equal((await provenant(['generate-key-pair'], { cwd: keys, env })).status, 0);
      const out = `oci:${join(dir, `${mode}-signed-docker`)}:v1`;
      const r = await provenant(
        [
          ...['build', config, '-o', out, '--attestations', mode, '--target', 'artifactory@6.23.38'],
          ...['--sign', '--key', join(keys, 'cosign.key'), '--format', 'json'],
        ],
        { env },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /SBOM is not written/);
      type Built = { digest: string; target: { fix: { renamed: { from: string; to: string; role: string }[] } } };
      const built = JSON.parse(r.stdout) as Built;
      const replaced = built.target.fix.renamed.filter((x) => x.role !== 'attachment');
      assert.deepEqual(
        replaced.map((x) => x.role).sort(),
        ['image', 'image', 'index'],
        'the fix wrote an index and both images of its own',
      );
      const images = replaced.filter((x) => x.role === 'image').map((x) => x.to);
      type Checked = {
        verified: boolean;
        predicateType: string;
        statement: { subjects: { digest: { sha256: string } }[]; predicate: unknown };
      };
      const about = (c: Checked): string[] => c.statement.subjects.map((x) => `sha256:${x.digest.sha256}`);
      // The index's SBOM: about the index written, naming the images written.
      const v = await provenant(['verify-attestation', '--key', join(keys, 'cosign.pub'), '--type', 'spdxjson', '--format', 'json', out], {
        env,
      });
      assert.equal(v.status, 0, v.stderr);
      const index = (JSON.parse(v.stdout) as { checked: Checked[] }).checked;
      assert.deepEqual(
        index.map((c) => [about(c), c.verified]),
        [[[built.digest], true]],
        v.stdout,
      );
      for (const d of images) assert.match(JSON.stringify(index[0]!.statement.predicate), new RegExp(d.slice(7)));
      // Each image's SBOMs and provenance, as an unfixed build has them: about the image written.
      for (const platform of ['linux/amd64', 'linux/arm64']) {
        const p = await provenant(
          ['verify-attestation', '--key', join(keys, 'cosign.pub'), '--platform', platform, '--format', 'json', out],
          { env },
        );
        assert.equal(p.status, 0, p.stderr);
        const checked = (JSON.parse(p.stdout) as { checked: Checked[] }).checked;
        assert.deepEqual(checked.map((c) => c.predicateType).sort(), [
          'https://cyclonedx.org/bom',
          'https://slsa.dev/provenance/v1',
          'https://spdx.dev/Document',
        ]);
        for (const c of checked) {
          assert.equal(c.verified, true, p.stdout);
          assert.equal(about(c).length, 1);
          assert.ok(images.includes(about(c)[0]!), `${c.predicateType} is about ${about(c)[0]}, an image written`);
        }
      }
    });
  }

  it('fix for amazon-ecr: the signed SBOM about the index as built is not carried to the fixed index, and the account says so', async () => {
    const env = { ...EPOCH, COSIGN_PASSWORD: 'pw' };
    const keys = join(dir, 'keys-fix');
    await mkdir(keys);
    assert.equal((await provenant(['generate-key-pair'], { cwd: keys, env })).status, 0);
    const src = `oci:${join(dir, 'fix-src')}:v1`;
    const b = await provenant(
      ['build', config, '-o', src, '--attestations', 'buildkit-artifact', '--sign', '--key', join(keys, 'cosign.key'), '--format', 'json'],
      { env },
    );
    assert.equal(b.status, 0, b.stderr);
    const built = (JSON.parse(b.stdout) as { digest: string }).digest;
    const dst = join(dir, 'fix-dst');
    const f = await provenant(['fix', src, '--target', 'amazon-ecr', '-o', `oci:${dst}:v1`], { env });
    assert.equal(f.status, 0, f.stderr);
    assert.match(
      f.stdout,
      new RegExp(`Not carried: attestation \\S+ \\(https://spdx\\.dev/Document\\), because its statements are about ${built}`),
    );
    const store = await LayoutStore.open(dst);
    try {
      const fixed = (await store.resolve('v1'))!.digest;
      assert.notEqual(fixed, built);
      assert.equal(await store.resolve(`sha256-${fixed.slice(7)}.att`), undefined, 'no .att image of the fixed index');
      assert.deepEqual(await store.referrers(fixed), [], 'nothing attached to the fixed index');
    } finally {
      await store.close();
    }
    // What is attached to the fixed index verifies as about it: nothing about another digest.
    const v = await provenant(['verify-attestation', '--key', join(keys, 'cosign.pub'), '--format', 'json', `oci:${dst}:v1`], { env });
    assert.doesNotMatch(v.stdout, /wrong-subject/, v.stdout);
  });

  describe('into a registry', { skip: registryMissing }, () => {
    const reg = useRegistry();

    it('names the image in its attestations the same with or without docker://', async () => {
      // In-index attestations: the index digest covers the statements, and so the name in them.
      const digests: string[] = [];
      for (const out of [`docker://${reg.host}/app:1`, `${reg.host}/app:1`]) {
        const r = await provenant(['build', config, '-o', out, '--attestations', 'buildkit', '--format', 'json'], { env: EPOCH });
        assert.equal(r.status, 0, r.stderr);
        digests.push(JSON.parse(r.stdout).digest);
      }
      assert.equal(digests[0], digests[1]);
    });
  });
});
