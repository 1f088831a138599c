// The CLI end to end: inspect, copy into archives that skopeo reads, errors and exit codes, flags from the environment, gc.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { digestHex, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { makeImage, makeLayer, putBytes, sh, toolMissing } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const root = join(import.meta.dirname, '..', '..');
const example = `oci:${join(root, 'examples', 'hello-oci')}:latest`;
const temp = useTempDir('cli');

function provenant(args: string[], env: Record<string, string> = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'src', 'cli', 'main.ts'), ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('provenant CLI', () => {
  it('inspects the bundled example: two platforms', () => {
    const r = provenant(['inspect', example]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /MediaType: application\/vnd\.oci\.image\.index\.v1\+json/);
    assert.match(r.stdout, /Platform:\s+linux\/amd64[\s\S]*Platform:\s+linux\/arm64/);
    const json = JSON.parse(provenant(['inspect', '--format', 'json', example]).stdout);
    assert.equal(json.manifests.length, 2);
    const raw = spawnSync(process.execPath, [join(root, 'src', 'cli', 'main.ts'), 'inspect', '--raw', example]);
    assert.equal(digestOf(new Uint8Array(raw.stdout)), json.digest);
    assert.equal(provenant(['digest', example]).stdout.trim(), json.digest);
  });

  it("inspect shows each image's created time, run settings, labels and layers, and --config prints its config byte for byte", async () => {
    const dir = await temp();
    const layout = await LayoutStore.open(join(dir, 'l'), { create: true });
    const put = (bytes: Uint8Array, mediaType: string) => putBytes(layout, bytes, mediaType);
    const images = [];
    for (const architecture of ['amd64', 'arm64']) {
      const { tar, gz } = makeLayer('hello.txt', new TextEncoder().encode(`hello ${architecture}\n`));
      const layer = await put(gz, MediaType.OciLayerGzip);
      // Spaces and a key order no serializer of ours writes: --config must print these bytes, not a re-encoding.
      const configText = JSON.stringify(
        {
          os: 'linux',
          architecture,
          created: '2024-05-06T07:08:09Z',
          config: {
            User: '1000:1000',
            Env: ['PATH=/usr/bin:/bin', 'LANG=C.UTF-8'],
            Entrypoint: ['/bin/hello', '--loud'],
            Cmd: ['world'],
            WorkingDir: '/srv',
            Labels: { 'z.last': 'two', 'a.first': 'one', 'm.evil': 'x\nName:      forged' },
          },
          rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
        },
        null,
        3,
      );
      const config = await put(new TextEncoder().encode(configText), MediaType.OciConfig);
      const manifest = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] }));
      await layout.putManifest(manifest, { tags: architecture === 'arm64' ? ['single'] : [] });
      images.push({ manifest, config, layer, configText, architecture });
    }
    const index = parseStored(
      encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: images.map((i) => ({
          mediaType: MediaType.OciManifest,
          digest: i.manifest.digest,
          size: i.manifest.bytes.byteLength,
          platform: { os: 'linux', architecture: i.architecture },
        })),
      }),
    );
    await layout.putManifest(index, { tags: ['multi'], keepAsRoot: true });
    const arm = images[1]!;
    const single = `oci:${layout.path}:single`;
    const multi = `oci:${layout.path}:multi`;

    const text = provenant(['inspect', single]);
    assert.equal(text.status, 0, text.stderr);
    assert.ok(
      text.stdout.endsWith(
        [
          'Platform:  linux/arm64',
          'Created:   2024-05-06T07:08:09Z',
          'Config:',
          '  User:        1000:1000',
          '  Env:         PATH=/usr/bin:/bin',
          '               LANG=C.UTF-8',
          '  Entrypoint:  ["/bin/hello","--loud"]',
          '  Cmd:         ["world"]',
          '  WorkingDir:  /srv',
          'Labels:',
          '  a.first=one',
          '  m.evil=x\\u000aName:      forged',
          '  z.last=two',
          'Layers:',
          `  ${arm.layer.digest}  tar+gzip  ${arm.layer.size} bytes`,
          '',
        ].join('\n'),
      ),
      text.stdout,
    );
    const json = JSON.parse(provenant(['inspect', '--format', 'json', single]).stdout);
    const m = json.manifests[0];
    assert.equal(m.created, '2024-05-06T07:08:09Z');
    assert.deepEqual(Object.keys(m.labels), ['a.first', 'm.evil', 'z.last'], 'labels in key order');
    assert.equal(m.labels['m.evil'], 'x\nName:      forged', 'JSON keeps the label as it is');
    assert.deepEqual(
      [m.user, m.env, m.entrypoint, m.cmd, m.workingDir],
      ['1000:1000', ['PATH=/usr/bin:/bin', 'LANG=C.UTF-8'], ['/bin/hello', '--loud'], ['world'], '/srv'],
    );
    assert.deepEqual(m.layers, [arm.layer]);
    assert.deepEqual(m.platform, { os: 'linux', architecture: 'arm64' }, 'the existing keys stay');

    // Each platform of an index, under its name.
    const both = provenant(['inspect', multi]);
    assert.equal(both.status, 0, both.stderr);
    for (const i of images) {
      assert.match(
        both.stdout,
        new RegExp(`Platform:    linux/${i.architecture}\n  Created:     2024-05-06T07:08:09Z\n  Config:\n    User:        1000:1000\n`),
      );
      assert.ok(both.stdout.includes(`  Layers:\n    ${i.layer.digest}  tar+gzip  ${i.layer.size} bytes\n`), both.stdout);
    }
    const bothJson = JSON.parse(provenant(['inspect', '--format', 'json', multi]).stdout);
    assert.deepEqual(
      bothJson.manifests.map((x: { layers: unknown; workingDir: string }) => [x.layers, x.workingDir]),
      images.map((i) => [[i.layer], '/srv']),
    );

    // An index entry the layout lacks is said, and the rest shown.
    const absent = encodeJson({ schemaVersion: 2 });
    const partial = parseStored(
      encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          {
            mediaType: MediaType.OciManifest,
            digest: arm.manifest.digest,
            size: arm.manifest.bytes.byteLength,
            platform: { os: 'linux', architecture: 'arm64' },
          },
          {
            mediaType: MediaType.OciManifest,
            digest: digestOf(absent),
            size: absent.byteLength,
            platform: { os: 'linux', architecture: 's390x' },
          },
        ],
      }),
    );
    await layout.putManifest(partial, { tags: ['partial'], keepAsRoot: true });
    const some = provenant(['inspect', `oci:${layout.path}:partial`]);
    assert.equal(some.status, 0, some.stderr);
    assert.match(
      some.stderr,
      new RegExp(`^warning: the linux/s390x image ${digestOf(absent)} is not in .*: its layers and config are not shown\n$`),
    );
    assert.ok(some.stdout.includes(`  Layers:\n    ${arm.layer.digest}  tar+gzip  ${arm.layer.size} bytes\n`), some.stdout);
    assert.ok(some.stdout.endsWith('  Platform:    linux/s390x\n'), some.stdout);

    // --config: the stored bytes; of an index, only with --platform, else a usage error naming the platforms.
    const config = (args: string[]) => spawnSync(process.execPath, [join(root, 'src', 'cli', 'main.ts'), 'inspect', '--config', ...args]);
    const own = config([single]);
    assert.equal(own.status, 0, String(own.stderr));
    assert.equal(new TextDecoder().decode(own.stdout), arm.configText);
    assert.equal(digestOf(new Uint8Array(own.stdout)), arm.config.digest);
    assert.equal(digestOf(new Uint8Array(config([multi, '--platform', 'linux/arm64']).stdout)), arm.config.digest);
    assert.equal(digestOf(new Uint8Array(config([multi, '--platform', 'linux/amd64']).stdout)), images[0]!.config.digest);
    const refused = provenant(['inspect', '--config', multi]);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /--config prints the config of one image, and this is an index[\s\S]*hint: pick its image with --platform: linux\/amd64, linux\/arm64/,
    );
    assert.equal(refused.stdout, '');
    // --raw and the details with --platform: that image of the index.
    const raw = spawnSync(process.execPath, [join(root, 'src', 'cli', 'main.ts'), 'inspect', '--raw', multi, '--platform', 'linux/arm64']);
    assert.equal(digestOf(new Uint8Array(raw.stdout)), arm.manifest.digest);
    assert.equal(
      JSON.parse(provenant(['inspect', '--format', 'json', multi, '--platform', 'arm64']).stdout).manifests[0].layers[0].digest,
      arm.layer.digest,
    );

    if (toolMissing('skopeo') === false) {
      const theirs = sh('skopeo', ['inspect', '--config', '--raw', single]);
      assert.equal(theirs.status, 0, theirs.stderr);
      assert.equal(theirs.stdout, new TextDecoder().decode(own.stdout), 'the same bytes as skopeo inspect --config --raw');
      const s = JSON.parse(sh('skopeo', ['inspect', single]).stdout);
      assert.deepEqual(
        [s.Created, s.Labels, s.Env, s.Layers],
        [m.created, m.labels, m.env, m.layers.map((l: { digest: string }) => l.digest)],
      );
    }
  });

  it('inspect shows every image of a sparse or odd index, warning of each detail it cannot show; a corrupt or missing image fails, as --platform does', async () => {
    const dir = await temp();
    const layout = await LayoutStore.open(join(dir, 'l'), { create: true });
    const blob = (bytes: Uint8Array) => join(layout.path, 'blobs', 'sha256', digestHex(digestOf(bytes)));
    const put = (bytes: Uint8Array, mediaType: string) => putBytes(layout, bytes, mediaType);
    const text = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
    const layer = await put(makeLayer('a.txt', text('a')).gz, MediaType.OciLayerGzip);
    const image = async (architecture: string, config: Descriptor) => {
      const stored = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] }));
      await layout.putManifest(stored);
      return {
        mediaType: MediaType.OciManifest,
        digest: stored.digest,
        size: stored.bytes.byteLength,
        platform: { os: 'linux', architecture },
      };
    };
    const configOf = (architecture: string, extra: object = {}) =>
      text({
        os: 'linux',
        architecture,
        created: '2024-01-01T00:00:00Z',
        config: { Labels: { which: architecture }, ...extra },
        rootfs: { type: 'layers', diff_ids: [] },
      });
    const good = await image('arm64', await put(configOf('arm64'), MediaType.OciConfig));
    // The config's bytes changed after it was stored (its size kept): a digest mismatch.
    const changed = configOf('amd64');
    const amd = await image('amd64', await put(changed, MediaType.OciConfig));
    await writeFile(blob(changed), configOf('AMD64'));
    const notJson = await image('s390x', await put(text('this is not json {'), MediaType.OciConfig));
    const big = configOf('riscv64', { Env: [`BIG=${'x'.repeat(9 * 1024 * 1024)}`] });
    const large = await image('riscv64', await put(big, MediaType.OciConfig));
    const lost = configOf('386');
    const missing = await image('386', { mediaType: MediaType.OciConfig, digest: digestOf(lost), size: lost.byteLength });
    const garbage = await put(text('this is no manifest'), MediaType.OciManifest);
    const unparsed = { ...garbage, platform: { os: 'linux', architecture: 'ppc64le' } };
    const attestation = parseStored(
      encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: await put(text('{}'), MediaType.OciEmpty),
        layers: [await put(text('{}'), 'application/vnd.in-toto+json')],
      }),
    );
    await layout.putManifest(attestation);
    // An index in the index (buildx's nested form): no layers or config of its own to show, nor to warn of.
    const inner = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [good] }));
    await layout.putManifest(inner);
    const nested = {
      mediaType: MediaType.OciIndex,
      digest: inner.digest,
      size: inner.bytes.byteLength,
      platform: { os: 'linux', architecture: 'mips64le' },
    };
    const entries = [
      good,
      nested,
      notJson,
      large,
      missing,
      unparsed,
      {
        mediaType: MediaType.OciManifest,
        digest: attestation.digest,
        size: attestation.bytes.byteLength,
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': good.digest },
      },
    ];
    await layout.putManifest(parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: entries })), {
      tags: ['all'],
      keepAsRoot: true,
    });
    await layout.putManifest(parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [amd, good] })), {
      tags: ['corrupt'],
      keepAsRoot: true,
    });
    const all = `oci:${layout.path}:all`;
    const corrupt = `oci:${layout.path}:corrupt`;

    const r = provenant(['inspect', all]);
    assert.equal(r.status, 0, r.stderr);
    for (const a of ['arm64', 'mips64le', 's390x', 'riscv64', '386', 'ppc64le'])
      assert.match(r.stdout, new RegExp(`Platform:    linux/${a}\n`));
    assert.match(r.stdout, /Platform: {4}linux\/arm64\n {2}Created: {5}2024-01-01T00:00:00Z\n {2}Labels:\n {4}which=arm64\n/);
    assert.match(r.stdout, /Platform: {4}linux\/arm64\n[\s\S]*└─ attestation buildkit/);
    assert.ok(
      r.stdout.includes(`@${inner.digest}\n  MediaType:   ${MediaType.OciIndex}\n  Platform:    linux/mips64le\n\n`),
      'the nested index as the index lists it',
    );
    const warnings = r.stderr.trimEnd().split('\n');
    assert.equal(warnings.length, 4, r.stderr);
    const warned = (platform: string, why: RegExp) =>
      assert.ok(
        warnings.some((w) => w.startsWith('warning: ') && w.includes(`linux/${platform} image`) && why.test(w)),
        `${platform}: ${r.stderr}`,
      );
    warned('s390x', /not JSON: its settings are not shown/);
    warned('riscv64', /more than the 8388608 inspect reads: its settings are not shown \(--config prints it\)/);
    warned('386', /is not in .*: its settings are not shown/);
    warned('ppc64le', /its layers and config are not shown/);
    assert.deepEqual(
      warnings.map((w) => /linux\/(\w+) image/.exec(w)?.[1]),
      ['s390x', 'riscv64', '386', 'ppc64le'],
      'in the order of the index, whichever read ends first',
    );
    // Its layers are in its manifest, which reads.
    assert.match(r.stdout, /Platform: {4}linux\/386\n {2}Layers:\n/);
    const json = provenant(['inspect', '--format', 'json', all]);
    assert.equal(json.status, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).manifests.length, 6);

    // A config that is there but not what its digest names fails inspect, as skopeo inspect and
    // crane config fail (exit 5): of an index's entry, a single image and one picked by --platform.
    for (const args of [[corrupt], ['--format', 'json', corrupt], [corrupt, '--platform', 'linux/amd64']]) {
      const failed = provenant(['inspect', ...args]);
      assert.equal(failed.status, 5, `${args.join(' ')}: ${failed.stderr}`);
      assert.match(failed.stderr, /digest/i);
      assert.equal(failed.stdout, '');
    }

    // One image picked by --platform shows what is attached to it in the index; it is what is
    // inspected, so a config it lacks fails it (exit 3), and one that is not JSON is said.
    const arm = provenant(['inspect', all, '--platform', 'linux/arm64']);
    assert.equal(arm.status, 0, arm.stderr);
    assert.match(arm.stdout, /Platform: {2}linux\/arm64\n[\s\S]*Attached:\n[\s\S]*└─ attestation buildkit/);
    const gone = provenant(['inspect', all, '--platform', 'linux/386']);
    assert.equal(gone.status, 3, gone.stderr);
    assert.equal(gone.stdout, '');
    const odd = provenant(['inspect', all, '--platform', 'linux/s390x']);
    assert.equal(odd.status, 0, odd.stderr);
    assert.match(
      odd.stderr,
      /^warning: the config sha256:\S+ of the linux\/s390x image sha256:\S+: the image config is not JSON: its settings are not shown\n$/,
    );
    assert.match(odd.stdout, /Platform: {2}linux\/s390x\nLayers:\n/);
    // --config prints what inspect does not read.
    const printed = spawnSync(
      process.execPath,
      [join(root, 'src', 'cli', 'main.ts'), 'inspect', '--config', all, '--platform', 'linux/riscv64'],
      {
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    assert.equal(printed.status, 0, String(printed.stderr));
    assert.equal(digestOf(new Uint8Array(printed.stdout)), digestOf(big));

    // --raw and --config print stored bytes, one blob or the other, whatever --format or
    // PROVENANT_FORMAT (every command's default, so not refused) says.
    const refused = provenant(['inspect', all, '--raw', '--config']);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /usage: provenant inspect REF/);
    assert.equal(refused.stdout, '');
    const arm64 = new TextDecoder().decode(configOf('arm64'));
    for (const [args, env] of [
      [['--config', '--format', 'json'], {}],
      [['--config'], { PROVENANT_FORMAT: 'json' }],
    ] as const) {
      const bytes = provenant(['inspect', all, '--platform', 'linux/arm64', ...args], env);
      assert.equal(bytes.status, 0, bytes.stderr);
      assert.equal(bytes.stdout, arm64);
    }
    const raw = provenant(['inspect', all, '--raw'], { PROVENANT_FORMAT: 'json' });
    assert.equal(raw.status, 0, raw.stderr);
    assert.equal(digestOf(new TextEncoder().encode(raw.stdout)), provenant(['digest', all]).stdout.trim());
    // A format no command knows is refused with them as without them.
    for (const args of [[], ['--raw'], ['--config', '--platform', 'linux/arm64']]) {
      const yaml = provenant(['inspect', all, ...args, '--format', 'yaml']);
      assert.equal(yaml.status, 2, `${args.join(' ')}: ${yaml.stderr}`);
      assert.match(yaml.stderr, /--format must be text or json, not "yaml"/);
      assert.equal(yaml.stdout, '');
    }
  });

  it('digest and manifest --platform: the image of that platform in the index, as crane gives it', () => {
    const index = JSON.parse(provenant(['manifest', example]).stdout);
    const arm = index.manifests.find((m: { platform?: { architecture?: string } }) => m.platform?.architecture === 'arm64');
    assert.equal(provenant(['digest', example, '--platform', 'linux/arm64']).stdout.trim(), arm.digest);
    const bytes = spawnSync(process.execPath, [
      join(root, 'src', 'cli', 'main.ts'),
      'manifest',
      example,
      '--platform',
      'linux/arm64',
    ]).stdout;
    assert.equal(digestOf(new Uint8Array(bytes)), arm.digest);
    const missing = provenant(['digest', example, '--platform', 'linux/s390x']);
    assert.equal(missing.status, 3, missing.stderr);
    assert.match(missing.stderr, /no linux\/s390x manifest[\s\S]*its platforms: linux\/amd64, linux\/arm64/);
    const single = provenant(['manifest', `${example.replace(/:latest$/, '')}@${arm.digest}`, '--platform', 'linux/arm64']);
    assert.equal(single.status, 2, single.stderr);
  });

  it('copies into oci-archive and docker-archive files that skopeo reads', { skip: toolMissing('skopeo') }, async () => {
    const dir = await temp();
    const oa = join(dir, 'img.tar');
    let r = provenant(['copy', '--quiet', example, `oci-archive:${oa}:v1`]);
    assert.equal(r.status, 0, r.stderr);
    const digest = provenant(['digest', example]).stdout.trim();
    assert.equal(provenant(['digest', `oci-archive:${oa}:v1`]).stdout.trim(), digest);
    const s = sh('skopeo', ['inspect', '--raw', `oci-archive:${oa}:v1`]);
    assert.equal(s.status, 0, s.stderr);
    assert.equal(digestOf(s.stdout), digest);

    const da = join(dir, 'docker.tar');
    r = provenant(['copy', '--quiet', '--platform', 'linux/arm64', example, `docker-archive:${da}:example.com/hello:1`]);
    assert.equal(r.status, 0, r.stderr);
    const config = sh('skopeo', ['inspect', '--config', `docker-archive:${da}`]);
    assert.equal(config.status, 0, config.stderr);
    assert.equal(JSON.parse(config.stdout).architecture, 'arm64');
    const back = provenant(['inspect', '--format', 'json', `docker-archive:${da}:example.com/hello:1`]);
    assert.equal(back.status, 0, back.stderr);
    assert.equal(JSON.parse(back.stdout).manifests[0].platform.architecture, 'arm64');
    // What skopeo writes as an oci-archive, we read with the same digest.
    const theirsOci = join(dir, 'theirs-oci.tar');
    const wo = sh('skopeo', ['copy', '--all', '--preserve-digests', example, `oci-archive:${theirsOci}:t`]);
    assert.equal(wo.status, 0, wo.stderr);
    assert.equal(provenant(['digest', `oci-archive:${theirsOci}:t`]).stdout.trim(), digest);
    // And what skopeo writes as a docker-archive, we read.
    const theirs = join(dir, 'theirs.tar');
    const w = sh('skopeo', ['copy', '--override-arch', 'amd64', example, `docker-archive:${theirs}:example.com/theirs:2`]);
    assert.equal(w.status, 0, w.stderr);
    const t = provenant(['inspect', '--format', 'json', `docker-archive:${theirs}`]);
    assert.equal(t.status, 0, t.stderr);
    assert.equal(JSON.parse(t.stdout).manifests[0].platform.architecture, 'amd64');
  });

  it('reads the real BuildKit oci-archive with its attestations', { skip: fixturesMissing }, () => {
    const r = provenant([
      'inspect',
      `oci-archive:${fixture('oci', 'buildkit-oci-layout-tar_2-platforms-with-legacy-attestation-manifests.tar')}`,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((r.stdout.match(/attestation buildkit/g) ?? []).length, 2);
  });

  it('shows a layout tag holding a newline or an escape as one escaped field: in tags and in the hints that list them', async () => {
    const dir = await temp();
    const layout = await LayoutStore.open(join(dir, 'l'), { create: true });
    await makeImage(layout, { tag: 'a\nb', seed: 1 });
    await makeImage(layout, { tag: '\u001b[31mred', seed: 2 });
    const tags = provenant(['tags', `oci:${layout.path}`]);
    assert.equal(tags.status, 0, tags.stderr);
    assert.equal(tags.stdout, '\\u001b[31mred\na\\u000ab\n');
    const json = provenant(['tags', '--format', 'json', `oci:${layout.path}`]);
    assert.deepEqual(JSON.parse(json.stdout), ['\u001b[31mred', 'a\nb'], 'JSON keeps the tags as they are');
    for (const args of [
      ['digest', `oci:${layout.path}`],
      ['inspect', `oci:${layout.path}:nope`],
    ]) {
      const r = provenant(args);
      assert.match(r.stderr, /\n {2}hint: .*\\u001b\[31mred, a\\u000ab.*\n$/, r.stderr);
    }
  });

  it('says what is wrong in one line, with a distinct exit code', async () => {
    let r = provenant(['inspect', 'Bad Ref']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^provenant inspect: "Bad Ref" is not an image reference/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    r = provenant(['inspect', `oci:${join(root, 'examples', 'hello-oci')}:nope`]);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /tag nope is not in the layout/);
    assert.match(r.stderr, /hint: tags here: latest/);
    r = provenant(['copy', example]);
    assert.equal(r.status, 2);
    r = provenant(['copy', '--bogus', example, 'oci:/tmp/x']);
    assert.equal(r.status, 2);
    r = provenant(['frobnicate']);
    assert.equal(r.status, 2);
    const dir = await temp();
    r = provenant(['copy', '--platform', 'linux/s390x', example, `oci:${dir}/out:x`]);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /available platforms: linux\/amd64, linux\/arm64/);
  });

  it('reads flags from PROVENANT_* variables, and lists them', () => {
    const r = provenant(['inspect', example], { PROVENANT_FORMAT: 'json' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).manifests.length, 2);
    const env = provenant(['env']);
    assert.match(env.stdout, /PROVENANT_WITH_REFERRERS/);
    assert.match(env.stdout, /PROVENANT_PLATFORM/);
  });

  it('gc says how many blobs and partial files it removed, and their bytes', async () => {
    const dir = join(await temp(), 'layout');
    assert.equal(provenant(['copy', '--quiet', example, `oci:${dir}:v1`]).status, 0);
    const orphan = 'nothing refers to this';
    await writeFile(join(dir, 'blobs', 'sha256', digestHex(digestOf(orphan))), orphan);
    await writeFile(join(dir, 'blobs', 'sha256', '.tmp-0123456789abcdef'), new Uint8Array(2_500_000));
    const r = provenant(['gc', `oci:${dir}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'removed 1 blob(s) (0.0 MB) and 1 partial file(s) (2.5 MB)\n');
    const again = provenant(['gc', '--format', 'json', `oci:${dir}`]);
    assert.deepEqual(JSON.parse(again.stdout), {
      dryRun: false,
      removed: [],
      blobs: [],
      removedBytes: 0,
      partials: { count: 0, bytes: 0, files: [] },
      dropped: [],
      droppedTags: [],
    });
    assert.equal(provenant(['digest', `oci:${dir}:v1`]).stdout.trim(), provenant(['digest', example]).stdout.trim());
  });
});
