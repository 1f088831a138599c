// `provenant copy` (and `tags`) against the real registry and to a docker-archive: what a destination asks for is what is written, or the command fails.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LayoutStore } from '../../src/store/layout.ts';
import { exampleWorkspace } from '../helpers/example.ts';
import { makeImage, makeReferrer } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { exampleDir, provenant } from './provenant.ts';

const example = `oci:${exampleDir}:latest`;
const exampleDigest = 'sha256:43ab08a9720914fa50ee175431c2fd479a352920aee1f68f58977b6ac40f62d3';

describe('provenant copy: destinations', { skip: registryMissing }, () => {
  const reg = useRegistry();
  const tempDir = useTempDir('cli-copy-made');

  it('refuses a destination digest that is not what is copied, writing nothing (exit 5)', async () => {
    const other = `sha256:${'0'.repeat(64)}`;
    const r = await provenant(['copy', '--quiet', example, `${reg.host}/dst/digest@${other}`]);
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, new RegExp(`${exampleDigest}, not the ${other}`));
    assert.equal((await provenant(['digest', `${reg.host}/dst/digest@${exampleDigest}`])).status, 3, 'nothing was pushed');
    const t = await provenant(['copy', '--quiet', example, `${reg.host}/dst/digest:t1@${other}`]);
    assert.equal(t.status, 5, t.stderr);
    assert.equal((await provenant(['digest', `${reg.host}/dst/digest:t1`])).status, 3, 'no tag was written');
  });

  it('index create and fix refuse a destination digest, which they cannot know before they write (exit 2)', async () => {
    const other = `sha256:${'0'.repeat(64)}`;
    const index = await provenant(['index', 'create', `${reg.host}/dst/made:v1@${other}`, example]);
    assert.equal(index.status, 2, index.stderr);
    assert.match(index.stderr, /names a digest, but index create makes the image/);
    assert.equal((await provenant(['digest', `${reg.host}/dst/made:v1`])).status, 3, 'no tag was written');
    const dir = await tempDir();
    const fix = await provenant(['fix', example, '-o', `oci:${join(dir, 'fixed.oci')}:v1@${other}`, '--target', 'aws-lambda']);
    assert.equal(fix.status, 2, fix.stderr);
    assert.match(fix.stderr, /names a digest, but fix makes the image/);
    assert.equal(existsSync(join(dir, 'fixed.oci')), false, 'no layout was made');
  });

  it('tags says a repository the registry does not know is not found (exit 3)', async () => {
    const r = await provenant(['tags', `${reg.host}/nope/x`]);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /nope\/x is no repository the registry knows/);
    assert.equal(r.stdout, '');
  });

  it('writes the tag of a TAG@DIGEST destination when the digest is what is copied', async () => {
    const r = await provenant(['copy', '--quiet', example, `${reg.host}/dst/both:t1@${exampleDigest}`]);
    assert.equal(r.status, 0, r.stderr);
    const d = await provenant(['digest', `${reg.host}/dst/both:t1`]);
    assert.equal(d.status, 0, d.stderr);
    assert.equal(d.stdout.trim(), exampleDigest);
    const only = await provenant(['copy', '--quiet', example, `${reg.host}/dst/only@${exampleDigest}`]);
    assert.equal(only.status, 0, only.stderr);
  });

  it('counts the signatures and attestations in the cosign tags it copies, not the tags', async () => {
    // Two keys' signatures in one .sig image, and a statement in the .att of the index and of each
    // of its two platform images: five, in four tags.
    const dir = await exampleWorkspace(await tempDir(), { password: 'pw', keys: ['k1', 'k2'] });
    const env = { COSIGN_PASSWORD: 'pw' };
    for (const key of ['k1', 'k2']) {
      const signed = await provenant(['sign', '--key', `${key}.key`, '--new-bundle-format', 'false', 'oci:layout:latest'], {
        cwd: dir,
        env,
      });
      assert.equal(signed.status, 0, signed.stderr);
    }
    await writeFile(join(dir, 'p.json'), '{"a":1}');
    const attested = await provenant(
      [
        'attest',
        'oci:layout:latest',
        '--predicate',
        'p.json',
        '--type',
        'https://example.org/p/v1',
        '--key',
        'k1.key',
        '--attestations',
        'cosign',
      ],
      { cwd: dir, env },
    );
    assert.equal(attested.status, 0, attested.stderr);
    const to = `${reg.host}/dst/cosign-tags:v1`;
    const r = await provenant(['copy', '-q', '--with-referrers', 'oci:layout:latest', to], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /, 5 signature\(s\)\/attestation\(s\) copied\n$/);
    const json = await provenant(
      ['copy', '-q', '--format', 'json', '--with-referrers', 'oci:layout:latest', `${reg.host}/dst/cosign-json:v1`],
      { cwd: dir },
    );
    assert.equal(json.status, 0, json.stderr);
    const result = JSON.parse(json.stdout);
    assert.equal(result.cosignTags.length, 4);
    assert.equal(result.cosignSignatures, 5);
  });
});

describe('provenant copy: to a layout named by tag and digest', () => {
  const tempDir = useTempDir('cli-copy-oci');

  it('writes oci:DIR:TAG@DIGEST into DIR under TAG, after checking the digest', async () => {
    const dir = await tempDir();
    const layout = join(dir, 'out');
    const other = `sha256:${'0'.repeat(64)}`;
    const wrong = await provenant(['copy', '--quiet', example, `oci:${layout}:t1@${other}`]);
    assert.equal(wrong.status, 5, wrong.stderr);
    assert.match(wrong.stderr, new RegExp(`${exampleDigest}, not the ${other}`));
    // --platform picks one manifest of the index: the destination's index digest is not the copy's.
    const amd64 = 'sha256:4c5df7e5be4106c7ee949d33ca9fe0f21a1cc96defe17e164dff62393d770e9e';
    const picked = await provenant(['copy', '--quiet', '--platform', 'linux/amd64', example, `oci:${layout}:t1@${exampleDigest}`]);
    assert.equal(picked.status, 5, picked.stderr);
    assert.match(
      picked.stderr,
      new RegExp(
        `hint: --platform picked the linux/amd64 manifest ${amd64} from the index ${exampleDigest}; name the destination by tag, or by ${amd64}`,
      ),
    );
    assert.doesNotMatch(picked.stderr, /made a new/);
    const r = await provenant(['copy', '--quiet', example, `oci:${layout}:t1@${exampleDigest}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(await readdir(dir), ['out']);
    const d = await provenant(['digest', `oci:${layout}:t1`]);
    assert.equal(d.status, 0, d.stderr);
    assert.equal(d.stdout.trim(), exampleDigest);
  });
});

describe('provenant copy: to a docker-archive', () => {
  const tempDir = useTempDir('cli-copy-da');

  it('refuses --with-referrers, which a docker-archive has no place for, writing nothing (exit 2)', async () => {
    const file = join(await tempDir(), 'a.tar');
    const r = await provenant(['copy', '--quiet', '--with-referrers', example, `docker-archive:${file}`]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /a docker-archive holds one image and no signatures or attestations/);
    assert.equal(existsSync(file), false);
  });

  it("prints the digest the archive holds, and says when this machine's platform was taken", async () => {
    const dir = await tempDir();
    await cp(exampleDir, join(dir, 'layout'), { recursive: true });
    const env = { COSIGN_PASSWORD: 'pw' };
    assert.equal((await provenant(['generate-key-pair'], { cwd: dir, env })).status, 0);
    const signed = await provenant(['sign', '--key', 'cosign.key', 'oci:layout:latest'], { cwd: dir, env });
    assert.equal(signed.status, 0, signed.stderr);
    const r = await provenant(['copy', '--quiet', '--format', 'json', 'oci:layout:latest', 'docker-archive:a.tar:example.com/a:1'], {
      cwd: dir,
    });
    assert.equal(r.status, 0, r.stderr);
    const d = await provenant(['digest', 'docker-archive:a.tar'], { cwd: dir });
    assert.equal(d.status, 0, d.stderr);
    assert.equal(JSON.parse(r.stdout).digest, d.stdout.trim());
    assert.match(r.stderr, /^warning: taking this machine's platform \(a docker-archive holds one\) made the copy/);
    assert.doesNotMatch(r.stderr, /--platform|--with-referrers/);
  });
});

describe('provenant copy: layouts', () => {
  const tempDir = useTempDir('cli-copy-layout');

  it('writes and reads a layout tag holding / : and @, as skopeo names images in a layout', async () => {
    const dir = join(await tempDir(), 'named');
    const tag = 'example.org/app:v1';
    const w = await provenant(['copy', '--quiet', example, `oci:${dir}:${tag}`]);
    assert.equal(w.status, 0, w.stderr);
    assert.equal((await provenant(['tags', `oci:${dir}`])).stdout, `${tag}\n`);
    for (const ref of [`oci:${dir}:${tag}`, `oci:${dir}:${tag}@${exampleDigest}`]) {
      const d = await provenant(['digest', ref]);
      assert.equal(d.status, 0, d.stderr);
      assert.equal(d.stdout, `${exampleDigest}\n`);
    }
    const again = await provenant(['copy', '--quiet', `oci:${dir}:${tag}`, `oci:${dir}:team/app@v2`]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal((await provenant(['tags', `oci:${dir}`])).stdout, `${tag}\nteam/app@v2\n`);
  });

  it('with --with-referrers, counts the signatures and attestations it copied apart from those already there', async () => {
    const dir = await tempDir();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const image = await makeImage(src, { tag: 'app', seed: 3 });
    const att = await makeReferrer(src, image.manifests[0]!, 'application/vnd.in-toto+json', 'attestation');
    await makeReferrer(src, att, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'signature of it');
    const from = `oci:${join(dir, 'src')}:app`;
    const to = `oci:${join(dir, 'dst')}:app`;
    const first = await provenant(['copy', '-q', '--with-referrers', from, to]);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /\n {2}\d+ blob\(s\) copied \([^)]*\), 2 signature\(s\)\/attestation\(s\) copied\n$/);
    const again = await provenant(['copy', '-q', '--with-referrers', from, to]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(
      again.stdout,
      `${to} ${image.root.digest}\n  already there with everything it references: nothing copied; 2 signature(s)/attestation(s) already there\n`,
    );
    // One more signature at the source: the next copy brings it, and says the two it found.
    await makeReferrer(src, image.manifests[1]!, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'signature');
    const third = await provenant(['copy', '-q', '--with-referrers', from, to]);
    assert.match(third.stdout, /, 1 signature\(s\)\/attestation\(s\) copied, 2 signature\(s\)\/attestation\(s\) already there\n$/);
  });

  it('says a copy that only sets or moves a tag did so, and lists the tags with what they named before in JSON', async () => {
    const dir = join(await tempDir(), 'moved');
    assert.equal((await provenant(['copy', '-q', example, `oci:${dir}:a`])).status, 0);
    const amd64 = await provenant(['copy', '-q', '--format', 'json', '--platform', 'linux/amd64', example, `oci:${dir}:b`]);
    assert.equal(amd64.status, 0, amd64.stderr);
    const platform = JSON.parse(amd64.stdout).digest as string;
    assert.deepEqual(JSON.parse(amd64.stdout).tags, [{ tag: 'b', before: null }]);
    const set = await provenant(['copy', '-q', `oci:${dir}:a`, `oci:${dir}:c`]);
    assert.equal(set.stdout, `oci:${dir}:c ${exampleDigest}\n  already there with everything it references: nothing copied; tag c set\n`);
    const moved = await provenant(['copy', '-q', `oci:${dir}:b`, `oci:${dir}:a`]);
    assert.equal(
      moved.stdout,
      `oci:${dir}:a ${platform}\n  already there with everything it references: nothing copied; tag a moved from ${exampleDigest}\n`,
    );
    const again = await provenant(['copy', '-q', '--format', 'json', `oci:${dir}:b`, `oci:${dir}:a`]);
    assert.deepEqual(JSON.parse(again.stdout).tags, [{ tag: 'a', before: platform }]);
    assert.equal(
      (await provenant(['copy', '-q', `oci:${dir}:b`, `oci:${dir}:a`])).stdout,
      `oci:${dir}:a ${platform}\n  already there with everything it references: nothing copied\n`,
    );
  });
});
