// --platform as the commands that read one image of an index take it (digest, manifest, copy):
// containerd's spellings, an architecture alone, exact where one image's digest is the answer.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hostPlatform } from '../../src/oci/platform.ts';
import { generateSigningKeyPair, publicKeyPem } from '../../src/sign/keys.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { synth } from '../compat/images.ts';
import { NO_HOME, useTempDir } from '../helpers/temp.ts';

const root = join(import.meta.dirname, '..', '..');
const temp = useTempDir('platform-flag');

function provenant(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'src', 'cli', 'main.ts'), ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: NO_HOME },
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A Windows index in `dir` as Microsoft's are: one windows/amd64 image per os.version (LTSC 2019,
 * then 2022) and a linux/amd64 one; with the warning --platform windows/amd64 gives of it.
 */
async function windowsIndex(dir: string): Promise<{ ref: string; ltsc2019: string; ltsc2022: string; linux: string; warning: string }> {
  const made = await synth(await LayoutStore.open(dir, { create: true }), {
    platforms: [
      { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.5458' },
      { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2227' },
      { os: 'linux', architecture: 'amd64' },
    ],
    tag: 'latest',
  });
  const [ltsc2019, ltsc2022, linux] = made.images.map((i) => i.digest) as [string, string, string];
  const warning = `warning: 2 images of the index are windows/amd64: took the first, ${ltsc2019} (os.version 10.0.17763.5458); to take another, name it by digest (oci:${dir}@DIGEST): ${ltsc2022} (os.version 10.0.20348.2227)\n`;
  return { ref: `oci:${dir}:latest`, ltsc2019, ltsc2022, linux, warning };
}

describe('--platform of digest, manifest and copy', () => {
  it("reads containerd's spellings, names the index's platforms normalized, and picks exactly for digest", async () => {
    const dir = join(await temp(), 'l');
    const store = await LayoutStore.open(dir, { create: true });
    const platforms = [
      { os: 'linux', architecture: '386' },
      { os: 'linux', architecture: 'arm', variant: 'v6' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ];
    const made = await synth(store, { platforms, tag: 'latest' });
    const [x86, armv6, arm64] = made.images.map((i) => i.digest);
    const ref = `oci:${dir}:latest`;
    for (const [text, digest] of [
      ['linux/i386', x86],
      ['i386', x86],
      ['linux/armel', armv6],
      ['linux/arm/6', armv6],
      ['arm64', arm64],
      ['linux/aarch64/8', arm64],
    ] as const) {
      const r = provenant(['digest', ref, '--platform', text]);
      assert.equal(r.status, 0, `${text}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), digest, text);
    }
    // linux/armhf is arm/v7, which this index lacks: digest names one image exactly, no stand-in.
    const v7 = provenant(['digest', ref, '--platform', 'linux/armhf']);
    assert.equal(v7.status, 3, v7.stderr);
    assert.match(v7.stderr, /no linux\/arm\/v7 manifest[\s\S]*its platforms: linux\/386, linux\/arm\/v6, linux\/arm64\b/);
    const bad = provenant(['digest', ref, '--platform', 'amd46']);
    assert.equal(bad.status, 2, bad.stderr);

    // copy takes the image a linux/arm/v7 machine runs, and says which.
    const out = join(await temp(), 'c');
    const c = provenant(['copy', ref, `oci:${out}:v7`, '--platform', 'linux/armhf']);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stderr, /no linux\/arm\/v7 image: copying its linux\/arm\/v6 one/);
    assert.equal(provenant(['digest', `oci:${out}:v7`]).stdout.trim(), armv6);

    // Never another architecture: linux/amd64 is not the 386 image, nor linux/arm64 the arm/v6 one
    // (containers/image keeps to the variants of the architecture asked for).
    const thirtyTwo = join(await temp(), 'l32');
    await synth(await LayoutStore.open(thirtyTwo, { create: true }), {
      platforms: [
        { os: 'linux', architecture: '386' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ],
      tag: 'latest',
    });
    for (const [text, named] of [
      ['linux/amd64', /no linux\/amd64 manifest/],
      ['linux/arm64', /no linux\/arm64 manifest/],
    ] as const) {
      const other = provenant(['copy', `oci:${thirtyTwo}:latest`, `oci:${join(await temp(), 'x')}:x`, '--platform', text]);
      assert.equal(other.status, 3, `${text}: ${other.stderr}`);
      assert.match(other.stderr, named);
      assert.doesNotMatch(other.stderr, /copying its/);
    }
  });

  it("takes an OS Go does not name as containerd does: Docker's Wasm images are wasi/wasm and wasip1/wasm", async () => {
    const dir = join(await temp(), 'w');
    const made = await synth(await LayoutStore.open(dir, { create: true }), {
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'wasi', architecture: 'wasm' },
        { os: 'wasip1', architecture: 'wasm' },
      ],
      tag: 'latest',
    });
    const [, wasi, wasip1] = made.images.map((i) => i.digest);
    const ref = `oci:${dir}:latest`;
    for (const [text, digest] of [
      ['wasi/wasm', wasi],
      ['WASI/wasm', wasi],
      ['wasip1/wasm', wasip1],
    ] as const) {
      const r = provenant(['digest', ref, '--platform', text]);
      assert.equal(r.status, 0, `${text}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), digest, text);
      const out = join(await temp(), 'cw');
      const c = provenant(['copy', ref, `oci:${out}:x`, '--platform', text]);
      assert.equal(c.status, 0, `${text}: ${c.stderr}`);
      assert.equal(provenant(['digest', `oci:${out}:x`]).stdout.trim(), digest, text);
    }
    // An OS the index lacks is no usage error but no match, naming the platforms it has.
    const none = provenant(['copy', ref, `oci:${join(await temp(), 'cn')}:x`, '--platform', 'wasip2/wasm']);
    assert.equal(none.status, 3, none.stderr);
    assert.match(none.stderr, /wasi\/wasm/);
  });

  it("reads an OS alone on this machine's architecture, which the command line passes to the parser", async () => {
    const dir = join(await temp(), 'h');
    const host = hostPlatform(process.arch);
    const other = host.architecture === 's390x' ? { os: 'linux', architecture: 'riscv64' } : { os: 'linux', architecture: 's390x' };
    const made = await synth(await LayoutStore.open(dir, { create: true }), { platforms: [other, host], tag: 'latest' });
    const r = provenant(['digest', `oci:${dir}:latest`, '--platform', 'linux']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), made.images[1]!.digest);
  });

  // The last stop: a Windows index lists one image per os.version, and --platform took the first
  // of them without a word. It still takes the first, as skopeo and containerd do, and says so.
  it('takes the first of several images of one platform, saying which and naming the others by digest', async () => {
    const dir = join(await temp(), 'win');
    const { ref, ltsc2019, linux, warning } = await windowsIndex(dir);
    for (const command of ['digest', 'manifest']) {
      const r = provenant([command, ref, '--platform', 'windows/amd64']);
      assert.equal(r.status, 0, r.stderr);
      if (command === 'digest') assert.equal(r.stdout.trim(), ltsc2019);
      assert.equal(r.stderr, warning);
    }
    const one = provenant(['digest', ref, '--platform', 'linux/amd64']);
    assert.equal(one.stdout.trim(), linux);
    assert.equal(one.stderr, '');
    // A platform it lacks: the hints list each platform once.
    const none = provenant(['digest', ref, '--platform', 'linux/s390x']);
    assert.equal(none.status, 3, none.stderr);
    assert.match(none.stderr, /its platforms: windows\/amd64, linux\/amd64\n/);
    const sbom = provenant(['sbom', ref, '--platform', 'linux/s390x']);
    assert.equal(sbom.status, 3, sbom.stderr);
    assert.match(sbom.stderr, /it has windows\/amd64, linux\/amd64\n/);
    const fix = provenant(['fix', ref, '--target', 'aws-lambda', '-o', `oci:${join(dir, '..', 'fixed')}:x`, '--platform', 'linux/s390x']);
    assert.match(fix.stderr, /it has windows\/amd64, linux\/amd64;/);
    // diff names each OS build; two images of one platform and no OS build, once.
    const twoDir = join(await temp(), 'two-linux');
    await synth(await LayoutStore.open(twoDir, { create: true }), {
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'amd64' },
      ],
      tag: 'latest',
    });
    const diff = provenant(['diff', ref, `oci:${twoDir}:latest`, '--platform', 'linux/s390x']);
    assert.match(diff.stderr, /it has windows\/amd64:10\.0\.17763\.5458, windows\/amd64:10\.0\.20348\.2227, linux\/amd64\n/);
    const diffTwo = provenant(['diff', `oci:${twoDir}:latest`, ref, '--platform', 'linux/s390x']);
    assert.match(diffTwo.stderr, /it has linux\/amd64\n/);
  });

  // Every command that picks an image by --platform picks it alike and says so: sbom, copy and fix
  // took the first windows/amd64 image without a word (copy dropping the other), and no test held
  // inspect, attest, verify, verify-attestation or policy test to it, nor JSON output clean of it.
  it('warns alike in every command that picks by --platform, on standard error only', async () => {
    const tmp = await temp();
    const { ref, ltsc2019, ltsc2022, warning } = await windowsIndex(join(tmp, 'win'));
    const key = join(tmp, 'cosign.pub');
    await writeFile(key, publicKeyPem(generateSigningKeyPair().publicKey));
    const policy = join(tmp, 'policy.yaml');
    await writeFile(
      policy,
      `apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: p\nspec:\n  images:\n  - glob: "**"\n  authorities:\n  - key:\n      secretRef:\n        name: ${key}\n`,
    );
    const predicate = join(tmp, 'predicate.json');
    await writeFile(predicate, '{}');
    const platform = ['--platform', 'windows/amd64'];
    const commands: [string, string[]][] = [
      ['inspect', ['inspect', ref, ...platform]],
      ['inspect json', ['inspect', ref, ...platform, '--format', 'json']],
      ['digest json', ['digest', ref, ...platform, '--format', 'json']],
      ['verify', ['verify', ref, '--key', key, ...platform]],
      ['verify json', ['verify', ref, '--key', key, ...platform, '--format', 'json']],
      ['verify-attestation', ['verify-attestation', ref, '--key', key, ...platform]],
      ['policy test', ['policy', 'test', policy, ref, ...platform]],
      ['policy test json', ['policy', 'test', policy, ref, ...platform, '--format', 'json']],
      ['sbom', ['sbom', ref, ...platform]],
      ['sbom --compat apko', ['sbom', ref, '--compat', 'apko', ...platform]],
      ['copy', ['copy', '--quiet', ref, `oci:${join(tmp, 'two')}:x`, ...platform, '--platform', 'linux/amd64']],
      // One platform asked for twice, in two spellings, is one pick and one warning.
      [
        'copy twice',
        ['copy', '--quiet', ref, `oci:${join(tmp, 'twice')}:x`, ...platform, '--platform', 'windows/x86_64', '--platform', 'linux/amd64'],
      ],
      ['attest', ['attest', ref, '--predicate', predicate, '--type', 'https://example.com/p', ...platform]],
    ];
    for (const [name, args] of commands) {
      const r = provenant(args);
      const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
      assert.deepEqual(warnings, [warning.trimEnd()], `${name}: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, /images of the index/, name);
      if (name.endsWith('json')) assert.doesNotThrow(() => JSON.parse(r.stdout), `${name}: ${r.stdout}`);
    }
    // copy keeps the first windows/amd64 image, as containers/image's ChooseInstance does.
    const copied = provenant(['manifest', `oci:${join(tmp, 'two')}:x`]);
    assert.match(copied.stdout, /10\.0\.17763\.5458/);
    assert.doesNotMatch(copied.stdout, /10\.0\.20348/);
    // fix says it in its account of the change, in its words (present tense, the one taken by its short digest, the other in full, to be named), the first kept.
    const fixed = provenant(['fix', ref, '--target', 'aws-lambda', '-o', `oci:${join(tmp, 'fixed')}:x`, ...platform, '--force']);
    const short = (d: string): string => d.slice(0, 'sha256:'.length + 12);
    const account = `2 images of the index are windows/amd64: the fix takes the first, ${short(ltsc2019)} (os.version 10.0.17763.5458); to take another, name it by digest (oci:${join(tmp, 'win')}@DIGEST): ${ltsc2022} (os.version 10.0.20348.2227)`;
    assert.ok(fixed.stdout.includes(account), fixed.stdout + fixed.stderr);
    assert.match(fixed.stdout, new RegExp(`oci:.*fixed@${ltsc2019}`));
  });
});
