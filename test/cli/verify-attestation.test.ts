// verify-attestation when nothing of --type verifies: what it found, in text and JSON, and the hint to --platform.
import assert from 'node:assert/strict';
import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LayoutStore } from '../../src/store/layout.ts';
import { synth } from '../compat/images.ts';
import { useTempDir } from '../helpers/temp.ts';
import { exampleDir, provenant } from './provenant.ts';

const tempDir = useTempDir('cli-verify-attestation');
const env = { COSIGN_PASSWORD: 'correct horse battery staple', SOURCE_DATE_EPOCH: '1700000000' };
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';
const CUSTOM = 'https://cosign.sigstore.dev/attestation/v1';

/** A folder with a key pair (`cosign.key`, `cosign.pub`), a predicate `vuln.json` and the example two-platform image as `layout`. */
async function workspace(): Promise<string> {
  const dir = await tempDir();
  await cp(exampleDir, join(dir, 'layout'), { recursive: true });
  const r = await provenant(['generate-key-pair'], { cwd: dir, env });
  assert.equal(r.status, 0, r.stderr);
  await writeFile(join(dir, 'vuln.json'), JSON.stringify({ scanner: { uri: 'x', version: '1' }, metadata: {} }));
  await writeFile(join(dir, 'note.txt'), 'hello');
  return dir;
}

describe('verify-attestation --type that matches none', () => {
  it('--format json lists what it found, as the text does, each with its state', async () => {
    const dir = await workspace();
    const attest = (...more: string[]) => provenant(['attest', 'oci:layout:latest', ...more], { cwd: dir, env });
    let r = await attest('--predicate', 'vuln.json', '--type', 'vuln', '--key', 'cosign.key', '--attestations', 'cosign');
    assert.equal(r.status, 0, r.stderr);
    r = await attest('--predicate', 'note.txt', '--type', 'custom');
    assert.equal(r.status, 0, r.stderr);
    const verify = ['verify-attestation', 'oci:layout:latest', '--type', 'slsaprovenance1', '--key', 'cosign.pub'];
    const text = await provenant(verify, { cwd: dir, env });
    assert.equal(text.status, 5, text.stderr);
    assert.ok(text.stderr.includes(`; found: ${VULN}, ${CUSTOM} (unsigned)\n`), text.stderr);
    const json = await provenant([...verify, '--format', 'json'], { cwd: dir, env });
    assert.equal(json.status, 5, json.stderr);
    const doc = JSON.parse(json.stdout) as { verified: boolean; found?: unknown };
    assert.equal(doc.verified, false);
    assert.deepEqual(doc.found, [
      { predicateType: VULN, state: 'verified' },
      { predicateType: CUSTOM, state: 'unsigned' },
    ]);
    // Something of --type verified: nothing to list.
    const ok = await provenant(['verify-attestation', 'oci:layout:latest', '--type', 'vuln', '--key', 'cosign.pub', '--format', 'json'], {
      cwd: dir,
      env,
    });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { found?: unknown }).found, undefined);
  });

  it('an index whose platform image has one unsigned: the hint names that platform, marked unsigned, to see with --platform', async () => {
    const dir = await workspace();
    const inspected = await provenant(['inspect', '--format', 'json', 'oci:layout:latest'], { cwd: dir });
    const p = (JSON.parse(inspected.stdout) as { manifests: { platform: { os: string; architecture: string } }[] }).manifests[1]?.platform;
    assert.ok(p !== undefined, inspected.stdout);
    const platform = `${p.os}/${p.architecture}`;
    const r = await provenant(['attest', 'oci:layout:latest', '--platform', platform, '--predicate', 'vuln.json', '--type', 'vuln'], {
      cwd: dir,
      env,
    });
    assert.equal(r.status, 0, r.stderr);
    const v = await provenant(['verify-attestation', 'oci:layout:latest', '--type', 'vuln', '--key', 'cosign.pub'], { cwd: dir, env });
    assert.equal(v.status, 5, v.stderr);
    assert.ok(
      v.stderr.includes(
        `hint: its ${platform} (unsigned) image has ${VULN} attestations of its own (a build attests each platform image), unsigned only: verify-attestation checks signed attestations only, so attest one signed first (provenant attest oci:layout:latest --platform ${platform} --key KEY, or --sign for keyless), then verify it with --platform ${platform}`,
      ),
      v.stderr,
    );
    // That image, asked for, says what it has.
    const one = await provenant(
      ['verify-attestation', 'oci:layout:latest', '--platform', platform, '--type', 'vuln', '--key', 'cosign.pub'],
      {
        cwd: dir,
        env,
      },
    );
    assert.equal(one.status, 5, one.stderr);
    assert.match(one.stderr, /has 1 unsigned .* attestation and no signed one/);
    assert.ok(one.stderr.includes(`; found: ${VULN} (unsigned)\n`), one.stderr);
    assert.ok(!one.stderr.includes('check --type'), one.stderr);
    // In JSON too, what it found is listed: an image with one unsigned is not one with none.
    const json = await provenant(
      ['verify-attestation', 'oci:layout:latest', '--platform', platform, '--type', 'vuln', '--key', 'cosign.pub', '--format', 'json'],
      { cwd: dir, env },
    );
    assert.equal(json.status, 5, json.stderr);
    assert.deepEqual((JSON.parse(json.stdout) as { found?: unknown }).found, [{ predicateType: VULN, state: 'unsigned' }]);
  });

  // The last stop: the index's own unsigned one made the hint "attest again" alone, and the
  // platform image's signed one, which verifies, went unsaid.
  it('an index with one unsigned of its own and a platform image with one signed: the hint names --platform too', async () => {
    const dir = await workspace();
    const attest = (...more: string[]) =>
      provenant(['attest', 'oci:layout:latest', '--predicate', 'vuln.json', '--type', 'vuln', ...more], { cwd: dir, env });
    let r = await attest('--platform', 'linux/arm64', '--key', 'cosign.key');
    assert.equal(r.status, 0, r.stderr);
    r = await attest();
    assert.equal(r.status, 0, r.stderr);
    const v = await provenant(['verify-attestation', 'oci:layout:latest', '--type', 'vuln', '--key', 'cosign.pub'], { cwd: dir, env });
    assert.equal(v.status, 5, v.stderr);
    assert.match(v.stderr, /has 1 unsigned .* attestation and no signed one/);
    assert.ok(
      v.stderr.includes(
        `hint: attest again with --key or --sign (keyless) to sign the unsigned ones; its linux/arm64 image has ${VULN} attestations of its own (a build attests each platform image): verify one with --platform linux/arm64\n`,
      ),
      v.stderr,
    );
    const one = await provenant(
      ['verify-attestation', 'oci:layout:latest', '--platform', 'linux/arm64', '--type', 'vuln', '--key', 'cosign.pub'],
      { cwd: dir, env },
    );
    assert.equal(one.status, 0, one.stderr);
  });

  // The last stop: of two images of one platform (a Windows index lists one per os.version), the
  // hint named the platform of the second's attestations, and --platform takes the first.
  it('names an image by digest where --platform takes another of its platform', async () => {
    const dir = await workspace();
    const made = await synth(await LayoutStore.open(join(dir, 'win'), { create: true }), {
      platforms: [
        { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.5458' },
        { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2227' },
      ],
      tag: 'latest',
    });
    const second = made.images[1]!.digest;
    const image = `oci:win@${second}`;
    const attest = (...more: string[]) =>
      provenant(['attest', image, '--predicate', 'vuln.json', '--type', 'vuln', ...more], { cwd: dir, env });
    const verify = () => provenant(['verify-attestation', 'oci:win:latest', '--type', 'vuln', '--key', 'cosign.pub'], { cwd: dir, env });
    let r = await attest();
    assert.equal(r.status, 0, r.stderr);
    let v = await verify();
    assert.equal(v.status, 5, v.stderr);
    const other = `(--platform windows/amd64 takes the index's first windows/amd64 image, another)`;
    assert.ok(
      v.stderr.includes(
        `hint: its windows/amd64 (${second}) (unsigned) image has ${VULN} attestations of its own (a build attests each platform image), unsigned only: verify-attestation checks signed attestations only, so attest one signed first (provenant attest ${image} --key KEY, or --sign for keyless), then verify it by digest ${other}\n`,
      ),
      v.stderr,
    );
    r = await attest('--key', 'cosign.key');
    assert.equal(r.status, 0, r.stderr);
    v = await verify();
    assert.equal(v.status, 5, v.stderr);
    assert.ok(
      v.stderr.includes(
        `hint: its windows/amd64 (${second}) image has ${VULN} attestations of its own (a build attests each platform image): verify it by digest, ${image} ${other}\n`,
      ),
      v.stderr,
    );
    const named = await provenant(['verify-attestation', image, '--type', 'vuln', '--key', 'cosign.pub'], { cwd: dir, env });
    assert.equal(named.status, 0, named.stderr);
  });

  // Two spellings of one platform (linux/arm64 and linux/arm64/v8), both signed: the hint listed
  // "its linux/arm64, linux/arm64/v8 images", one platform twice, which --platform reads as one.
  it('lists a platform once in the hint, whatever spelling its images are listed under', async () => {
    const dir = await workspace();
    const made = await synth(await LayoutStore.open(join(dir, 'arm'), { create: true }), {
      platforms: [
        { os: 'linux', architecture: 'arm64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
        { os: 'linux', architecture: 'amd64' },
      ],
      tag: 'latest',
    });
    for (const image of made.images.slice(0, 2)) {
      const r = await provenant(['sign', `oci:arm@${image.digest}`, '--key', 'cosign.key'], { cwd: dir, env });
      assert.equal(r.status, 0, r.stderr);
    }
    const v = await provenant(['verify', 'oci:arm:latest', '--key', 'cosign.pub'], { cwd: dir, env });
    assert.notEqual(v.status, 0, v.stderr);
    assert.ok(
      v.stderr.includes(
        'hint: the index is not signed, but its linux/arm64 image is (an index made by index create is new until signed): verify one with --platform linux/arm64, or sign the index (provenant sign)\n',
      ),
      v.stderr,
    );
  });
});
