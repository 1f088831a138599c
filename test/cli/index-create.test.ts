/**
 * index create through the CLI entry point: two single-arch builds merged give the digest of one
 * two-arch build, with each platform's attestations brought along; what cannot be merged is refused.
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { EPOCH, writeFixtureRepo } from '../action/fixture-repo.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { provenant } from './provenant.ts';

const temp = useTempDir('cli-index');
const env = { SOURCE_DATE_EPOCH: String(EPOCH) };

interface Built {
  digest: string;
  images: { platform: string; digest: string }[];
}

describe('provenant index create', () => {
  let dir: string;
  let config: string;
  const built = new Map<string, Built>();
  const ref = (name: string): string => `oci:${join(dir, name)}:v1`;

  before(async () => {
    dir = await temp();
    config = await writeFixtureRepo(dir);
    for (const [name, archs] of [
      ['both', []],
      ['amd64', ['--arch', 'x86_64']],
      ['arm64', ['--arch', 'aarch64']],
    ] as const) {
      const r = await provenant(['build', config, '-o', ref(name), ...archs, '--format', 'json'], { env });
      assert.equal(r.status, 0, r.stderr);
      built.set(name, JSON.parse(r.stdout) as Built);
    }
  });

  it('two single-arch builds merged have the digest of one two-arch build, their attestations along', async () => {
    const r = await provenant(['index', 'create', ref('merged'), ref('amd64'), ref('arm64')]);
    assert.equal(r.status, 0, r.stderr);
    const both = built.get('both')!;
    assert.ok(r.stdout.startsWith(`oci:${join(dir, 'merged')}:v1@${both.digest}\n`), r.stdout);
    assert.match(r.stdout, /linux\/amd64 .* from oci:/);
    assert.match(r.stdout, /[1-9]\d* referrer\(s\)/);
    const digest = await provenant(['digest', ref('merged')]);
    assert.equal(digest.stdout.trim(), both.digest);
    const inspect = await provenant(['inspect', ref('merged'), '--format', 'json']);
    const seen = JSON.parse(inspect.stdout) as {
      manifests: { digest: string; attachments: { storage: string; predicateTypes: string[] }[] }[];
    };
    assert.deepEqual(
      seen.manifests.map((m) => m.digest),
      both.images.map((i) => i.digest),
    );
    for (const m of seen.manifests) {
      const types = m.attachments.filter((a) => a.storage === 'referrers').flatMap((a) => a.predicateTypes);
      assert.ok(types.includes('https://slsa.dev/provenance/v1'), `provenance of ${m.digest} came along`);
      assert.ok(types.includes('https://spdx.dev/Document'), `the SBOM of ${m.digest} came along`);
    }
  });

  it('an annotation given changes the index; the order of the sources is the order of the entries', async () => {
    const r = await provenant(
      ['index', 'create', ref('annotated'), ref('arm64'), ref('amd64'), '--annotation', 'org.example.team=platform', '--format', 'json'],
      { env },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      descriptor: { digest: string };
      index: { annotations: Record<string, string> };
      platforms: { platform: string }[];
    };
    assert.notEqual(out.descriptor.digest, built.get('both')!.digest);
    assert.equal(out.index.annotations['org.example.team'], 'platform');
    assert.deepEqual(
      out.platforms.map((p) => p.platform),
      ['linux/arm64', 'linux/amd64'],
    );
  });

  it('takes one image given twice once, as buildx does: amd64 and both are both', async () => {
    const r = await provenant(['index', 'create', ref('once'), ref('amd64'), ref('both')]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.startsWith(`oci:${join(dir, 'once')}:v1@${built.get('both')!.digest}\n`), r.stdout);
  });

  it('refuses two sources of one platform, a bad annotation, no sources and an unknown subcommand', async () => {
    const later = await provenant(['build', config, '-o', ref('amd64-later'), '--arch', 'x86_64'], {
      env: { SOURCE_DATE_EPOCH: String(EPOCH + 60) },
    });
    assert.equal(later.status, 0, later.stderr);
    let r = await provenant([
      'index',
      'create',
      ref('dup'),
      ref('amd64'),
      ref('amd64-later'),
      '--annotation',
      'org.opencontainers.image.created=x',
    ]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /amd64:v1 and .*amd64-later:v1 both hold a linux\/amd64 image/);
    assert.equal((await provenant(['tags', `oci:${join(dir, 'dup')}`])).stdout, '', 'nothing is tagged');
    r = await provenant(['index', 'create', ref('x'), ref('amd64'), '--annotation', 'novalue']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /KEY=VALUE/);
    r = await provenant(['index', 'create', ref('x')]);
    assert.equal(r.status, 2);
    r = await provenant(['index', 'merge', ref('x'), ref('amd64')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no subcommand "merge"/);
  });

  it('refuses a docker-archive destination before writing anything, saying what to do instead', async () => {
    const archive = join(dir, 'out.tar');
    const r = await provenant(['index', 'create', `docker-archive:${archive}:app:v1`, ref('amd64'), ref('arm64')]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /a docker-archive holds single-platform images only/);
    assert.match(r.stderr, /oci:DIR, oci-archive:FILE or a registry/);
    assert.doesNotMatch(r.stderr, /--platform os\/arch\n|names 2 images/);
    await assert.rejects(stat(archive), 'nothing was written');
  });

  it("reads buildx's annotation types: index: and manifest-descriptor[PLATFORM]:, and refuses the others", async () => {
    const r = await provenant(
      [
        'index',
        'create',
        ref('typed'),
        ref('amd64'),
        ref('arm64'),
        '--annotation',
        'index:org.example.team=platform',
        '--annotation',
        'manifest-descriptor[linux/arm64]:org.example.cpu=neoverse',
        '--format',
        'json',
      ],
      { env },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      index: { annotations: Record<string, string>; manifests: { annotations?: Record<string, string> }[] };
    };
    assert.equal(out.index.annotations['org.example.team'], 'platform');
    assert.equal(out.index.annotations['index:org.example.team'], undefined);
    assert.equal(out.index.manifests[0]!.annotations, undefined);
    assert.deepEqual(out.index.manifests[1]!.annotations, { 'org.example.cpu': 'neoverse' });
    for (const [given, why] of [
      ['manifest:k=v', /would change the platform images/],
      ['index-descriptor:k=v', /no descriptor of it/],
      ['idx:k=v', /"idx" cannot be used here/],
      // A platform list in brackets, which buildx does not read either: refused whole, not blamed in fragments.
      [
        'manifest-descriptor[linux/amd64,linux/arm64]:k=v',
        /--annotation "manifest-descriptor\[linux\/amd64,linux\/arm64\]:k=v": "manifest-descriptor\[linux\/amd64,linux\/arm64\]" names several platforms[\s\S]*hint: give each platform its own type: manifest-descriptor\[linux\/amd64\],manifest-descriptor\[linux\/arm64\]:k=VALUE/,
      ],
    ] as const) {
      const refused = await provenant(['index', 'create', ref('typed-x'), ref('amd64'), '--annotation', given]);
      assert.equal(refused.status, 2, given);
      assert.match(refused.stderr, why);
    }
    // What that hint says to write is read: one annotation on each platform's entry.
    const each = await provenant([
      'index',
      'create',
      ref('typed-each'),
      ref('amd64'),
      ref('arm64'),
      '--annotation',
      'manifest-descriptor[linux/amd64],manifest-descriptor[linux/arm64]:org.example.k=v',
      '--format',
      'json',
    ]);
    assert.equal(each.status, 0, each.stderr);
    const eachOut = JSON.parse(each.stdout) as { index: { manifests: { annotations?: Record<string, string> }[] } };
    assert.deepEqual(
      eachOut.index.manifests.map((m) => m.annotations),
      [{ 'org.example.k': 'v' }, { 'org.example.k': 'v' }],
    );
  });

  it('verify on a merged index whose images are signed, and not it, points at --platform', async () => {
    const key = join(dir, 'cosign');
    const pw = { COSIGN_PASSWORD: 'pw' };
    assert.equal((await provenant(['generate-key-pair', '--output-key-prefix', key], { env: pw })).status, 0);
    for (const name of ['amd64', 'arm64']) {
      assert.equal((await provenant(['copy', '-q', '--with-referrers', ref(name), ref(`signed-${name}`)])).status, 0);
      const signed = await provenant(['sign', ref(`signed-${name}`), '--key', `${key}.key`, '--recursive'], { env: pw });
      assert.equal(signed.status, 0, signed.stderr);
    }
    const merged = await provenant(['index', 'create', ref('signed'), ref('signed-amd64'), ref('signed-arm64'), '-q']);
    assert.equal(merged.status, 0, merged.stderr);
    const r = await provenant(['verify', ref('signed'), '--key', `${key}.pub`]);
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, /the index is not signed, but its linux\/amd64, linux\/arm64 images are/);
    assert.match(r.stderr, /--platform linux\/amd64/);
    assert.equal((await provenant(['verify', ref('signed'), '--key', `${key}.pub`, '--platform', 'linux/arm64'])).status, 0);
    // An image nobody signed keeps the plain hint.
    const unsigned = await provenant(['verify', ref('both'), '--key', `${key}.pub`]);
    assert.equal(unsigned.status, 5);
    assert.match(unsigned.stderr, /sign it first/);
  });

  describe('into a registry', { skip: registryMissing }, () => {
    const reg = useRegistry();

    it('merges images pushed by digest into a tag there, with the same digest', async () => {
      const pushed: string[] = [];
      for (const name of ['amd64', 'arm64']) {
        const r = await provenant(['copy', '--quiet', '--with-referrers', ref(name), `${reg.host}/app:build-${name}`]);
        assert.equal(r.status, 0, r.stderr);
        pushed.push(`${reg.host}/app@${built.get(name)!.digest}`);
      }
      const r = await provenant(['index', 'create', `${reg.host}/app:1.0`, ...pushed]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal((await provenant(['digest', `${reg.host}/app:1.0`])).stdout.trim(), built.get('both')!.digest);
    });
  });
});
