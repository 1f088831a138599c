/**
 * build --target through the CLI entry point: an image the target refuses as built is written in
 * the shape fix makes (Lambda: the amd64 manifest alone, its attestations as referrers; GitLab:
 * BuildKit 0.32's in-index attestations moved to referrers); one it accepts is written unchanged.
 */
import assert from 'node:assert/strict';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { FixReport } from '../../src/compat/fix.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { EPOCH, writeFixtureRepo } from '../action/fixture-repo.ts';
import { sh, toolMissing } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { provenant } from './provenant.ts';

const temp = useTempDir('cli-build-target');
const env = { SOURCE_DATE_EPOCH: String(EPOCH) };

interface BuildJson {
  digest: string;
  images: { platform: string; digest: string }[];
  target?: { target: string; asBuilt: string; fix: FixReport | null };
}

describe('provenant build --target', () => {
  let dir: string;
  let config: string;
  let plain: BuildJson;
  const ref = (name: string): string => `oci:${join(dir, name)}:v1`;

  before(async () => {
    dir = await temp();
    config = await writeFixtureRepo(dir);
    const r = await provenant(['build', config, '-o', ref('plain'), '--format', 'json'], { env });
    assert.equal(r.status, 0, r.stderr);
    plain = JSON.parse(r.stdout) as BuildJson;
  });

  it('aws-lambda: the amd64 manifest alone, accepted, its SBOMs and provenance still attached as referrers', async () => {
    const r = await provenant(['build', config, '-o', ref('lambda'), '--target', 'aws-lambda'], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /aws-lambda refuses the image as built; written as fix makes it:/);
    assert.match(r.stdout, /The image is now the linux\/amd64 manifest/);
    const amd64 = plain.images.find((i) => i.platform === 'linux/amd64')!.digest;
    assert.equal((await provenant(['digest', ref('lambda')])).stdout.trim(), amd64, 'the manifest a plain build writes, unchanged');
    // The summary lists what the output holds: the amd64 manifest, not the arm64 one left out.
    assert.match(r.stdout, new RegExp(`^  linux/amd64 +${amd64}  `, 'm'));
    assert.doesNotMatch(r.stdout, /^ {2}linux\/arm64 /m);
    // Unsigned: the image's digest changed (the manifest in place of the index), and nothing signs it.
    assert.doesNotMatch(r.stdout, /No digest changed/);
    const [a, i] = [amd64.slice(0, 19), plain.digest.slice(0, 19)];
    assert.ok(
      r.stdout.includes(`The fixed image is ${a} in place of ${i}: no signature of ${i} covers it, and nothing signs ${a}.`),
      r.stdout,
    );
    const check = await provenant(['check', ref('lambda'), '--target', 'aws-lambda']);
    assert.equal(check.status, 0, check.stdout);
    const inspect = JSON.parse((await provenant(['inspect', ref('lambda'), '--format', 'json'])).stdout) as {
      mediaType: string;
      manifests: { attachments: { storage: string; predicateTypes: string[] }[] }[];
    };
    assert.equal(inspect.mediaType, MediaType.OciManifest);
    const types = inspect.manifests[0]!.attachments.filter((a) => a.storage === 'referrers').flatMap((a) => a.predicateTypes);
    for (const t of ['https://spdx.dev/Document', 'https://cyclonedx.org/bom', 'https://slsa.dev/provenance/v1'])
      assert.ok(types.includes(t), t);
    if (toolMissing('skopeo') === false) {
      const raw = sh('skopeo', ['inspect', '--raw', ref('lambda')]);
      assert.equal(raw.status, 0, raw.stderr);
      assert.equal((JSON.parse(raw.stdout) as { mediaType: string }).mediaType, MediaType.OciManifest);
    }
  });

  it('gitlab with BuildKit 0.32 attestations: moved out of the index to .att tags (not referrers), both platforms kept', async () => {
    const r = await provenant(
      ['build', config, '-o', ref('gitlab'), '--target', 'gitlab', '--attestations', 'buildkit-artifact', '--format', 'json'],
      { env },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as BuildJson;
    assert.equal(out.target?.asBuilt, 'refused');
    assert.deepEqual(
      out.target?.fix?.applied.map((a) => a.fix),
      ['move-attestations'],
    );
    // Accepted without the referrers-api warning: GitLab reads cosign tags, not the referrers tag fallback.
    assert.equal(out.target?.fix?.after?.verdict, 'accepted');
    assert.match(out.target?.fix?.account.join('\n') ?? '', /stored under tag sha256-[0-9a-f]{64}\.att/);
    // Without the attestation entries, the index is the one a referrers build writes.
    assert.equal(out.digest, plain.digest);
    const check = await provenant(['check', ref('gitlab'), '--target', 'gitlab']);
    assert.equal(check.status, 0, check.stdout);
  });

  it('a target that accepts the image as built gets it unchanged', async () => {
    const r = await provenant(['build', config, '-o', ref('acr'), '--target', 'azure-acr'], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /azure-acr accepts it as built: written unchanged\./);
    assert.ok(r.stdout.startsWith(`${ref('acr')}@${plain.digest}\n`), r.stdout);
  });

  it('amazon-ecr: the index’s own attestation (a referrer of an index, which ECR refuses) goes under a cosign tag', async () => {
    const r = await provenant(['build', config, '-o', ref('ecr'), '--target', 'amazon-ecr', '--format', 'json'], { env });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as BuildJson;
    assert.equal(out.target?.asBuilt, 'refused');
    assert.equal(out.digest, plain.digest, 'the index itself is unchanged');
    assert.match(out.target?.fix?.account.join('\n') ?? '', /stored under tag sha256-[0-9a-f]{64}\.att/);
    const check = await provenant(['check', ref('ecr'), '--target', 'amazon-ecr']);
    assert.equal(check.status, 0, check.stdout);
  });

  describe('signed', () => {
    const password = { ...env, COSIGN_PASSWORD: 'pw' };
    let keys: string;
    before(async () => {
      keys = join(dir, 'cosign-keys');
      await mkdir(keys);
      const g = await provenant(['generate-key-pair'], { cwd: keys, env: password });
      assert.equal(g.status, 0, g.stderr);
    });

    /**
     * A signed build for amazon-ecr at `out`: the check finds nothing to refuse, the index is signed
     * under its .sig tag and its SBOM signed in its .att image (ECR refuses a referrer of an
     * index), and each platform image's SBOMs and provenance verify with the key.
     */
    async function signedForEcr(out: string): Promise<BuildJson> {
      const r = await provenant(
        ['build', config, '-o', out, '--target', 'amazon-ecr', '--sign', '--key', join(keys, 'cosign.key'), '--format', 'json'],
        { env: password },
      );
      assert.equal(r.status, 0, r.stderr);
      const built = JSON.parse(r.stdout) as BuildJson & { signed: { digest: string; storage: string; predicateType?: string }[] };
      // Why each is under a tag only, as the Action logs it.
      for (const why of ['signing it under its .sig tag only', 'its attestations signed in its .att image only'])
        assert.ok(r.stderr.split('\n').includes(`${built.digest}: ${why}, as amazon-ecr refuses a referrer of it`), r.stderr);
      const ofIndex = built.signed.filter((e) => e.digest === built.digest);
      assert.deepEqual(
        ofIndex.map((e) => [e.storage, e.predicateType ?? 'signature']).sort(),
        [
          ['cosign', 'https://spdx.dev/Document'],
          ['cosign', 'signature'],
        ],
        'the index: signed under its .sig tag, its SBOM in its .att image, nothing as a referrer',
      );
      const check = await provenant(['check', out, '--target', 'amazon-ecr']);
      assert.equal(check.status, 0, check.stdout);
      const pub = join(keys, 'cosign.pub');
      const v = await provenant(['verify', '--key', pub, '--format', 'json', out], { env: password });
      assert.equal(v.status, 0, v.stderr);
      type Checked = { verified: boolean; storage: string; predicateType?: string };
      const sigs = (JSON.parse(v.stdout) as { checked: Checked[] }).checked;
      assert.deepEqual(
        sigs.map((c) => [c.storage, c.verified]),
        [['cosign', true]],
        v.stdout,
      );
      const a = await provenant(['verify-attestation', '--key', pub, '--type', 'spdxjson', '--format', 'json', out], { env: password });
      assert.equal(a.status, 0, a.stderr);
      assert.deepEqual(
        (JSON.parse(a.stdout) as { checked: Checked[] }).checked.map((c) => [c.storage, c.verified]),
        [['cosign', true]],
        a.stdout,
      );
      for (const platform of ['linux/amd64', 'linux/arm64']) {
        const p = await provenant(['verify-attestation', '--key', pub, '--platform', platform, '--format', 'json', out], { env: password });
        assert.equal(p.status, 0, p.stderr);
        const checked = (JSON.parse(p.stdout) as { checked: Checked[] }).checked;
        assert.ok(
          checked.every((c) => c.verified),
          p.stdout,
        );
        assert.deepEqual([...new Set(checked.map((c) => c.predicateType))].sort(), [
          'https://cyclonedx.org/bom',
          'https://slsa.dev/provenance/v1',
          'https://spdx.dev/Document',
        ]);
      }
      return built;
    }

    it('amazon-ecr, into a layout: the signatures and statements go where ECR takes them, as the Action puts them', async () => {
      const built = await signedForEcr(ref('ecr-signed'));
      const store = await LayoutStore.open(join(dir, 'ecr-signed'));
      try {
        assert.deepEqual(await store.referrers(built.digest as Digest), [], 'nothing attached to the index as a referrer');
      } finally {
        await store.close();
      }
    });

    describe('into a registry', { skip: registryMissing }, () => {
      const reg = useRegistry();

      it('amazon-ecr: the same, through the tag fallback of a registry without a referrers API', async () => {
        const built = await signedForEcr(`${reg.host}/ecr/app:v1`);
        const tags = (await provenant(['tags', `${reg.host}/ecr/app`])).stdout.split('\n');
        assert.ok(tags.includes(`sha256-${built.digest.slice(7)}.sig`), tags.join(' '));
        assert.ok(tags.includes(`sha256-${built.digest.slice(7)}.att`), tags.join(' '));
        assert.ok(!tags.includes(`sha256-${built.digest.slice(7)}`), 'no referrers tag of the index');
      });
    });

    it('harbor, which accepts the image as built: the account says what the check of the signed image says, warnings named', async () => {
      const r = await provenant(
        ['build', config, '-o', ref('harbor-signed'), '--target', 'harbor', '--sign', '--key', join(keys, 'cosign.key')],
        {
          env: password,
        },
      );
      assert.equal(r.status, 0, r.stderr);
      const check = await provenant(['check', ref('harbor-signed'), '--target', 'harbor']);
      assert.match(check.stdout, /: accepted, with warnings .*\n.*\n\s+- cosign-v3-unsigned \(warning: misdisplays\)/);
      assert.match(
        r.stdout,
        /^(harbor@[\d.]+) accepts it as built: written unchanged\.\nChecked again, signed: \1 accepts it, with warnings \(cosign-v3-unsigned: misdisplays; check shows them\)\.\n$/m,
      );
      const json = await provenant(
        ['build', config, '-o', ref('harbor-json'), '--target', 'harbor', '--sign', '--key', join(keys, 'cosign.key'), '--format', 'json'],
        { env: password },
      );
      assert.equal(json.status, 0, json.stderr);
      const target = (JSON.parse(json.stdout) as { target: { asBuilt: string; asSigned: string } }).target;
      assert.deepEqual([target.asBuilt, target.asSigned], ['accepted', 'warnings']);
    });

    it('aws-lambda: the account names the statements about what the fix left out, which the build neither signed nor wrote', async () => {
      const r = await provenant(
        [
          'build',
          config,
          '-o',
          ref('lambda-signed'),
          '--target',
          'aws-lambda',
          '--sign',
          '--key',
          join(keys, 'cosign.key'),
          '--format',
          'json',
        ],
        { env: password },
      );
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as BuildJson;
      const arm64 = plain.images.find((i) => i.platform === 'linux/arm64')!.digest;
      assert.deepEqual(
        out.images.map((i) => [i.platform, i.digest]),
        [['linux/amd64', out.digest]],
      );
      const account = out.target?.fix?.account ?? [];
      const types = 'https://spdx.dev/Document, https://cyclonedx.org/bom, https://slsa.dev/provenance/v1';
      const notCarried = (subject: string, digest: string, what: string): string =>
        `Not carried: the statements about ${subject} ${digest.slice(0, 19)} (${what}), because the fixed image does not carry ${digest.slice(0, 19)}, so the build neither signed nor wrote them.`;
      // Each after what the account says of its subject, as the unsigned account names each attestation.
      const index = account.indexOf(
        `Not carried: index ${plain.digest.slice(0, 19)}, because the target takes a single manifest; the linux/amd64 manifest takes its place.`,
      );
      assert.ok(index >= 0, account.join('\n'));
      assert.equal(account[index + 1], notCarried('index', plain.digest, 'https://spdx.dev/Document'));
      const image = account.findIndex((a) => a.startsWith(`Not carried: linux/arm64 manifest ${arm64.slice(0, 19)}, `));
      assert.ok(image >= 0, account.join('\n'));
      assert.equal(account[image + 1], notCarried('linux/arm64 manifest', arm64, types));
      // What was written is signed: the amd64 manifest and its statements, nothing about the others.
      const signed = (JSON.parse(r.stdout) as { signed: { digest: string }[] }).signed;
      assert.deepEqual([...new Set(signed.map((e) => e.digest))], [out.digest]);
      // And the account says so: the fix kept the manifest's digest, and the build signed it.
      assert.ok(account.includes(`Signed ${out.digest.slice(0, 19)} with the key or identity given.`), account.join('\n'));
      assert.ok(!account.some((a) => a.includes('existing signatures still apply')), account.join('\n'));
    });

    it("aws-lambda with BuildKit's storage: the attestation manifest the fix moved is named as not signed, its statements signed again, not as still unsigned", async () => {
      const r = await provenant(
        [
          'build',
          config,
          '-o',
          ref('lambda-signed-buildkit'),
          '--target',
          'aws-lambda',
          '--attestations',
          'buildkit',
          '--sign',
          '--key',
          join(keys, 'cosign.key'),
          '--format',
          'json',
        ],
        { env: password },
      );
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as BuildJson;
      const fix = out.target?.fix;
      const account = fix?.account ?? [];
      const moved = fix?.renamed.find((x) => x.role === 'attachment' && x.kind === 'attestation');
      assert.ok(moved !== undefined, JSON.stringify(fix?.renamed));
      const signing = account.find((a) => a.startsWith(`Signed ${out.digest.slice(0, 19)} `));
      assert.ok(signing !== undefined, account.join('\n'));
      assert.ok(!signing.includes('Still unsigned'), signing);
      assert.ok(
        signing.includes(
          `Not signed: attestation ${moved.to.slice(0, 19)}, which the fix moved; its statements are signed again as attestations of ${out.digest.slice(0, 19)}.`,
        ),
        signing,
      );
      // The JSON says what the text says: the moved manifest is signed by nothing, and its
      // statements are signed again as attestations of the amd64 manifest.
      assert.deepEqual(fix?.signing.unsigned, [moved.to]);
      assert.deepEqual(fix?.signing.remade, [{ attestation: moved.to, about: out.digest }]);
      // And they are: each statement the moved manifest holds is signed, as it is, about the amd64 manifest.
      const signed = (JSON.parse(r.stdout) as { signed: { digest: string; predicateType?: string; statement?: string }[] }).signed;
      const statements = signed.filter((e) => e.predicateType !== undefined);
      assert.ok(statements.length > 0, r.stdout);
      assert.deepEqual([...new Set(statements.map((e) => e.digest))], [out.digest]);
      const m = await (await LayoutStore.open(join(dir, 'lambda-signed-buildkit'))).getManifest(moved.to);
      assert.ok(m.kind === 'manifest' && m.manifest.layers.length > 0);
      for (const l of m.manifest.layers)
        assert.ok(
          statements.some((e) => e.statement === l.digest),
          `${l.digest} is signed again`,
        );
    });

    it('into a docker-archive, which keeps no manifest to sign: refused before the key is read, with a target or not, nothing written', async () => {
      for (const target of [[], ['--target', 'docker-engine@17.09']]) {
        const file = join(dir, `signed-${target.length}.tar`);
        const r = await provenant(
          [
            'build',
            config,
            '-o',
            `docker-archive:${file}`,
            '--platform',
            'linux/amd64',
            ...target,
            '--sign',
            '--key',
            join(keys, 'cosign.key'),
          ],
          { env: { ...env, COSIGN_PASSWORD: 'not the password' } },
        );
        assert.equal(r.status, 2, r.stderr);
        assert.match(
          r.stderr,
          /^provenant build: a docker-archive holds one image and no signatures: its manifest is rebuilt when it is loaded/,
        );
        assert.match(r.stderr, /hint: write to oci:DIR or oci-archive:FILE \(or a registry\) to sign/);
        assert.equal(r.stdout, '');
        await assert.rejects(stat(file), { code: 'ENOENT' });
      }
    });

    it('artifactory@6.23.38, which the build fixes: the account says what the build signed and attested again, not what an unsigned fix leaves', async () => {
      const r = await provenant(
        [
          ...['build', config, '-o', ref('docker-signed'), '--target', 'artifactory@6.23.38', '--attestations', 'buildkit-artifact'],
          ...['--sign', '--key', join(keys, 'cosign.key')],
        ],
        { env: password },
      );
      assert.equal(r.status, 0, r.stderr);
      const account = r.stdout.slice(r.stdout.indexOf('artifactory@6.23.38 refuses the image as built'));
      assert.doesNotMatch(account, /No key or identity was given/);
      assert.doesNotMatch(account, /stays about the old digest only/);
      assert.doesNotMatch(account, /signature made before the fix/);
      const digest = r.stdout.split('\n')[0]!.split('@').pop()!;
      assert.match(account, new RegExp(`Signed (sha256:[0-9a-f]{12}, ){2}${digest.slice(0, 19)} with the key or identity given`));
      // The statements about each platform image the fix rewrote: made again about the image written, and signed.
      const remade = [
        ...account.matchAll(/Not carried: attestation .*; the same statements were made again about (sha256:[0-9a-f]{64}), and signed\./g),
      ];
      assert.equal(remade.length, 2, account);
      const v = await provenant(
        ['verify-attestation', '--key', join(keys, 'cosign.pub'), '--platform', 'linux/arm64', '--format', 'json', ref('docker-signed')],
        {
          env: password,
        },
      );
      assert.equal(v.status, 0, v.stderr);
      const checked = (
        JSON.parse(v.stdout) as { checked: { verified: boolean; statement: { subjects: { digest: { sha256: string } }[] } }[] }
      ).checked;
      assert.ok(checked.length > 0 && checked.every((c) => c.verified), v.stdout);
      const about = checked.map((c) => `sha256:${c.statement.subjects[0]!.digest.sha256}`);
      assert.ok(
        about.every((d) => remade.some((m) => m[1] === d)),
        `${about.join(', ')} is an image the account says was attested again`,
      );
      // Its signatures and attestations go under cosign's tags in Docker schema 2 media types, as
      // cosign writes them for such a registry (COSIGN_DOCKER_MEDIA_TYPES=1): this Artifactory takes the signed image.
      assert.match(account, /Checked again: artifactory@6\.23\.38 accepts it\./);
      assert.doesNotMatch(r.stderr, /refuses the image as written and signed/);
      assert.match(
        r.stderr,
        /^sha256:[0-9a-f]{64}: signing it under its \.sig tag only, .*; in Docker schema 2 media types, as artifactory@6\.23\.38 refuses an OCI image there$/m,
      );
      const check = await provenant(['check', ref('docker-signed'), '--target', 'artifactory@6.23.38']);
      assert.equal(check.status, 0, check.stdout);
      const store = await LayoutStore.open(join(dir, 'docker-signed'));
      const tags = (await store.listTags()).filter((t) => /\.(sig|att)$/.test(t));
      assert.ok(tags.length >= 4, tags.join(', '));
      for (const t of tags) assert.equal((await store.getManifest(t)).mediaType, MediaType.DockerManifest, t);
    });

    it('a target that refuses every storage of a signature: exit 7 once signed, the image left untagged', async () => {
      const profiles = join(import.meta.dirname, '..', 'compat', 'profiles');
      const r = await provenant(
        [
          ...['build', config, '-o', ref('refused-signed'), '--target', 'no-attachments', '--profiles', profiles, '--attestations', 'none'],
          ...['--sign', '--key', join(keys, 'cosign.key')],
        ],
        { env: password },
      );
      assert.equal(r.status, 7, r.stderr);
      assert.match(
        r.stderr,
        /^provenant build: no-attachments refuses the image as written and signed \(no-docker-attachments\); the image is written as oci:.*@sha256:[0-9a-f]{64}, not tagged v1/m,
      );
      // Written and signed by digest (its signatures are there), named by no tag of its own.
      const tags = (await provenant(['tags', `oci:${join(dir, 'refused-signed')}`])).stdout.trim().split('\n');
      assert.ok(tags.length === 3 && tags.every((t) => t.endsWith('.sig')), tags.join(', '));
    });
  });

  it('artifactory@6.23.38, signed: the provenance names the target, and reproduce writes the rebuild as its fix does, so it matches', async () => {
    const password = { ...env, COSIGN_PASSWORD: '' };
    const keys = join(dir, 'reproduce-keys');
    await mkdir(keys);
    assert.equal((await provenant(['generate-key-pair'], { cwd: keys, env: password })).status, 0);
    const built = await provenant(
      ['build', config, '-o', ref('docker-reproduced'), '--target', 'artifactory@6.23.38', '--sign', '--key', join(keys, 'cosign.key')],
      { env: password },
    );
    assert.equal(built.status, 0, built.stderr);
    assert.match(built.stdout, /artifactory@6\.23\.38 refuses the image as built; written as fix makes it:/);
    // The repository is a folder beside the configuration: read from there, as the build read it.
    const r = await provenant(
      ['reproduce', ref('docker-reproduced'), '--key', join(keys, 'cosign.pub'), '--allow-local-packages', '--format', 'json'],
      { cwd: dirname(config), env: password },
    );
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as {
      match: boolean;
      platforms: { status: string; digest: string; rebuilt: string }[];
      index?: { compared: boolean; differences: string[] };
    };
    assert.equal(report.match, true);
    assert.deepEqual(report.index, { compared: true, differences: [] });
    assert.deepEqual(
      report.platforms.map((p) => [p.status, p.rebuilt === p.digest]),
      [
        ['match', true],
        ['match', true],
      ],
    );
  });

  describe('artifactory@6.23.38 into a registry, whose fix rewrites the platform images', { skip: registryMissing }, () => {
    const reg = useRegistry();
    const password = { ...env, COSIGN_PASSWORD: 'pw' };
    let keys: string;
    before(async () => {
      keys = join(dir, 'artifactory-keys');
      await mkdir(keys);
      assert.equal((await provenant(['generate-key-pair'], { cwd: keys, env: password })).status, 0);
    });

    interface Statement {
      predicateType: string;
      subject: { digest: { sha256: string } }[];
    }

    /** The in-toto statements of the attachment `digest` of `repo`, read from its layers. */
    async function statementsOf(repo: string, digest: string): Promise<{ statement: Statement; text: string }[]> {
      const m = await provenant(['manifest', `${repo}@${digest}`]);
      assert.equal(m.status, 0, m.stderr);
      const out = [];
      for (const l of (JSON.parse(m.stdout) as { layers: { digest: string }[] }).layers) {
        const b = await provenant(['blob', repo, l.digest]);
        assert.equal(b.status, 0, b.stderr);
        out.push({ statement: JSON.parse(b.stdout) as Statement, text: b.stdout });
      }
      return out;
    }

    it('unsigned: the SBOMs and provenance are made again about the images written, under their .att tags in Docker media types', async () => {
      const repo = `${reg.host}/team/art`;
      const r = await provenant(['build', config, '-o', `${repo}:v1`, '--target', 'artifactory@6.23.38', '--format', 'json'], { env });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as BuildJson;
      const account = out.target?.fix?.account ?? [];
      // Each attestation the fix left out (the index's SBOM, each image's three statements) is said to be made again.
      const remade = account.filter((a) =>
        /^Not carried: attestation .*; the same statements were made again about sha256:[0-9a-f]{64}, and attached to it where the target takes them\.$/.test(
          a,
        ),
      );
      assert.equal(remade.length, 3, account.join('\n'));
      assert.ok(!account.some((a) => a.includes('cannot be re-described')), account.join('\n'));
      assert.match(account.join('\n'), /Checked again: artifactory@6\.23\.38 accepts it\./);
      const check = await provenant(['check', `${repo}:v1`, '--target', 'artifactory@6.23.38']);
      assert.equal(check.status, 0, check.stdout);
      // What inspect shows: an attestation attached to each image written, and to the index.
      const inspect = JSON.parse((await provenant(['inspect', `${repo}:v1`, '--format', 'json'])).stdout) as {
        digest: string;
        manifests: { digest: string; attachments: { kind: string; storage: string; digest: string; mediaType: string }[] }[];
        attachments: { kind: string; storage: string; digest: string; mediaType: string }[];
      };
      assert.equal(inspect.digest, out.digest);
      const built = new Set([plain.digest, ...plain.images.map((i) => i.digest)].map((d) => d.slice(7)));
      const expected: [string, string[]][] = [
        ...out.images.map((i): [string, string[]] => [
          i.digest,
          ['https://cyclonedx.org/bom', 'https://slsa.dev/provenance/v1', 'https://spdx.dev/Document'],
        ]),
        [out.digest, ['https://spdx.dev/Document']],
      ];
      for (const [subject, types] of expected) {
        const of = subject === out.digest ? inspect.attachments : inspect.manifests.find((m) => m.digest === subject)!.attachments;
        const attestations = of.filter((a) => a.kind === 'attestation');
        assert.deepEqual(
          attestations.map((a) => [a.storage, a.mediaType]),
          [['cosign', MediaType.DockerManifest]],
          subject,
        );
        const statements = await statementsOf(repo, attestations[0]!.digest);
        assert.deepEqual(statements.map((x) => x.statement.predicateType).sort(), types, subject);
        for (const { statement, text } of statements) {
          assert.deepEqual(
            statement.subject.map((x) => `sha256:${x.digest.sha256}`),
            [subject],
          );
          // An SBOM that names the image names the digest written, never one built.
          for (const d of built) assert.ok(!text.includes(d), `${statement.predicateType} about ${subject} names ${d}`);
        }
        const spdx = statements.find((x) => x.statement.predicateType === 'https://spdx.dev/Document')!;
        assert.ok(spdx.text.includes(subject.slice(7)), 'the SPDX document names the image written');
      }
    });

    it('signed: the statements made again verify with the key, as attestations of the images written', async () => {
      const repo = `${reg.host}/team/art-signed`;
      const r = await provenant(
        [
          ...['build', config, '-o', `${repo}:v1`, '--target', 'artifactory@6.23.38', '--format', 'json'],
          ...['--sign', '--key', join(keys, 'cosign.key')],
        ],
        { env: password },
      );
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as BuildJson;
      for (const image of out.images) {
        const v = await provenant(
          ['verify-attestation', '--key', join(keys, 'cosign.pub'), '--platform', image.platform, '--format', 'json', `${repo}:v1`],
          { env: password },
        );
        assert.equal(v.status, 0, v.stderr);
        const checked = (
          JSON.parse(v.stdout) as {
            checked: { verified: boolean; predicateType: string; statement: { subjects: { digest: { sha256: string } }[] } }[];
          }
        ).checked;
        assert.ok(
          checked.every((c) => c.verified),
          v.stdout,
        );
        assert.deepEqual([...new Set(checked.map((c) => c.predicateType))].sort(), [
          'https://cyclonedx.org/bom',
          'https://slsa.dev/provenance/v1',
          'https://spdx.dev/Document',
        ]);
        for (const c of checked) assert.equal(`sha256:${c.statement.subjects[0]!.digest.sha256}`, image.digest);
      }
    });

    it('fix of an image it did not build still leaves out the statements about the manifests it rewrites', async () => {
      const r = await provenant(['fix', ref('plain'), '--target', 'artifactory@6.23.38', '-o', `${reg.host}/team/art-fixed:v1`]);
      assert.equal(r.status, 0, r.stderr);
      const left = r.stdout.split('\n').filter((l) => /^ {2}Not carried: attestation /.test(l));
      assert.equal(left.length, 3, r.stdout);
      for (const l of left)
        assert.match(l, /a statement cannot be re-described without signing it again, and stays about the old digest only\.$/);
      assert.doesNotMatch(r.stdout, /made again/);
    });
  });

  it('an unknown target, or two, are refused before anything is built', async () => {
    let r = await provenant(['build', config, '-o', ref('never'), '--target', 'lambda']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown target "lambda"/);
    r = await provenant(['build', config, '-o', ref('never'), '--target', 'aws-lambda,ghcr']);
    assert.equal(r.status, 2);
    assert.equal((await provenant(['tags', `oci:${join(dir, 'never')}`])).stdout, '');
  });
});
