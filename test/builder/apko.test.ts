// Builds with --compat apko: apko's golden configuration gives apko's golden layers and configs byte for byte.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { readTar } from '../../src/archive/tar.ts';
import { readGoUsers } from '../../src/builder/apko-accounts.ts';
import { apkoImageConfig, apkoIndex, apkoManifest, configDescriptor } from '../../src/builder/apko-image.ts';
import { buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { layerBytes } from '../../src/builder/layer.ts';
import { parseLock } from '../../src/builder/lock.ts';
import { isProvenantError } from '../../src/errors.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { apkoGoldenConfig, copyApkoRepository } from '../helpers/apk.ts';
import { fixture, fixturesMissing, readFixture } from '../helpers/fixtures.ts';
import { useTempDir } from '../helpers/temp.ts';

const skip = fixturesMissing;
const GOLDEN = {
  x86_64: {
    oci: 'amd64',
    diffId: 'sha256:20f698463c2755b6dc42b7d07e959ed7455a06e7367d507e829a315898f21a01',
    config: 'sha256:6c815259150f37d000417f9a93f41bddf74dff905c745986069d4b03e954ac1d',
  },
  aarch64: {
    oci: 'arm64',
    diffId: 'sha256:ca5e16c7c944d764863cb1a4286e668e72d6d87ef9ddd82337b19d87715bae7e',
    config: 'sha256:fbb854f9d5a601a36c4dc8cc82e5b21e91b11cdd4aab5035340e4f517c5a8eb1',
  },
} as const;

async function entries(tar: Uint8Array) {
  const out = new Map<string, { type: string; mode: number; uid: number; gid: number; mtime: number; body: string; uname: string }>();
  for await (const e of readTar([tar])) {
    const parts: Uint8Array[] = [];
    for await (const c of e.body) parts.push(c);
    const h = e.header;
    out.set(h.name, {
      type: h.type,
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      mtime: h.mtime,
      uname: h.uname,
      body: Buffer.concat(parts).toString('latin1'),
    });
  }
  return out;
}

describe('build --compat apko', { skip }, () => {
  const tempDir = useTempDir('apko');

  it("gives apko's golden uncompressed layers and image configs, byte for byte, for both architectures", async () => {
    const configPath = await apkoGoldenConfig(await tempDir());
    const result = await buildImage({ config: await loadConfig(configPath, { hostArch: 'x86_64' }), configPath, compat: 'apko' });
    assert.equal(result.compat, 'apko');
    for (const image of result.images) {
      const golden = GOLDEN[image.arch as keyof typeof GOLDEN];
      assert.equal(image.layers[0]?.diffId, golden.diffId, `${image.arch} diff_id`);
      assert.equal(image.config.descriptor.digest, golden.config, `${image.arch} config digest`);
      const goldenLayer = gunzipSync(await readFixture('apk', `apkotest-golden-${golden.oci}-layer.tar.gz`));
      assert.ok(Buffer.from(gunzipSync(await layerBytes(image.layers[0]!))).equals(goldenLayer), `${image.arch} layer bytes`);
      assert.ok(Buffer.from(image.config.bytes).equals(await readFixture('apk', `apkotest-golden-${golden.oci}-config.json`)));
    }
  });

  it("writes apko's manifests and index: with apko's compressed layers they are apko's golden ones", async () => {
    const configPath = await apkoGoldenConfig(await tempDir());
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const index = JSON.parse(await readFile(fixture('apk', 'apkotest-golden-oci-index.json'), 'utf8'));
    const images = [];
    for (const [arch, oci] of [
      ['x86_64', 'amd64'],
      ['aarch64', 'arm64'],
    ] as const) {
      const goldenManifest = await readFixture('apk', `apkotest-golden-${oci}-manifest.json`);
      const layer = JSON.parse(Buffer.from(goldenManifest).toString()).layers[0];
      const input = {
        config: loaded.config,
        configPath,
        apkArch: arch,
        runAs: undefined,
        created: 0,
        layers: [{ digest: layer.digest, size: layer.size, diffId: GOLDEN[arch].diffId }],
      };
      const configBytes = apkoImageConfig(input);
      const manifest = apkoManifest(configDescriptor(configBytes), input);
      assert.ok(Buffer.from(manifest.bytes).equals(goldenManifest), `${arch} manifest`);
      images.push({ apkArch: arch, manifest, platform: { os: 'linux', architecture: oci } });
    }
    // apko sorts by architecture, whatever the build order.
    const built = apkoIndex(images.reverse(), loaded.config, 0);
    assert.equal(built.digest, digestOf(await readFixture('apk', 'apkotest-golden-oci-index.json')));
    assert.ok(built.kind === 'index');
    assert.equal(built.index.manifests.length, index.manifests.length);
  });

  it("installs in a lock's order and gives the same layers from apko's own lock", async () => {
    const configPath = await apkoGoldenConfig(await tempDir());
    const lock = parseLock(await readFile(fixture('apk', 'apkotest-golden-apko.lock.json'), 'utf8'), 'apko.lock.json');
    const result = await buildImage({ config: await loadConfig(configPath, { hostArch: 'x86_64' }), configPath, lock, compat: 'apko' });
    for (const image of result.images) assert.equal(image.layers[0]?.diffId, GOLDEN[image.arch as keyof typeof GOLDEN].diffId);
    // The lock it writes lists the packages in apko's install order, as apko's lock does.
    assert.deepEqual(
      result.lock.contents.packages.map((p) => `${p.architecture}/${p.name}`),
      lock.contents.packages.map((p) => `${p.architecture}/${p.name}`),
    );
  });

  it('with SOURCE_DATE_EPOCH, dates the image but keeps every file time, as apko does', async () => {
    const configPath = await apkoGoldenConfig(await tempDir());
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const result = await buildImage({ config: loaded, configPath, compat: 'apko', archs: ['x86_64'], sourceDateEpoch: 1700000000 });
    const image = result.images[0];
    assert.ok(image);
    const config = JSON.parse(Buffer.from(image.config.bytes).toString());
    assert.equal(config.created, '2023-11-14T22:13:20Z');
    assert.equal(config.config.Labels['org.opencontainers.image.created'], '2023-11-14T22:13:20Z');
    const ours = await entries(gunzipSync(await layerBytes(image.layers[0]!)));
    const golden = await entries(gunzipSync(await readFixture('apk', 'apkotest-golden-amd64-layer.tar.gz')));
    for (const [name, g] of golden) assert.equal(ours.get(name)?.mtime, g.mtime, name);
  });

  it("writes accounts, paths and /etc/apko.json with apko's rules", async () => {
    const dir = await tempDir();
    await copyApkoRepository(dir);
    const configPath = join(dir, 'accounts.yaml');
    await writeFile(
      configPath,
      [
        'contents:',
        '  keyring: [./testdata/melange.rsa.pub]',
        '  repositories: [./testdata/packages/]',
        '  packages: [replayout]',
        'accounts:',
        '  run-as: nonroot',
        '  groups: [{groupname: nonroot, gid: 65532}]',
        '  users: [{username: nonroot, uid: 65532, gid: 65532}, {username: svc, uid: 1000, shell: /bin/false}]',
        'paths:',
        '  - {path: /data, type: directory, uid: 65532, gid: 65532}',
        '  - {path: /data/empty, type: empty-file, permissions: 0o600}',
        'environment: {FOO: "a&b"}',
        'cmd: run --flag "two words" # not an argument',
        'archs: [x86_64]',
        '',
      ].join('\n'),
    );
    const result = await buildImage({ config: await loadConfig(configPath, { hostArch: 'x86_64' }), configPath, compat: 'apko' });
    const image = result.images[0];
    assert.ok(image);
    const files = await entries(gunzipSync(await layerBytes(image.layers[0]!)));
    assert.equal(
      files.get('etc/passwd')?.body,
      'nonroot:x:65532:65532:Account created by apko:/home/nonroot:/bin/sh\nsvc:x:1000:1000:Account created by apko:/home/svc:/bin/false\n',
    );
    assert.equal(files.get('etc/group')?.body, 'nonroot:x:65532:\n');
    assert.equal(files.get('etc/shadow')?.body, 'nonroot:!:::::::\nsvc:!:::::::\n');
    assert.equal(files.get('etc/shadow')?.mode, 0o640);
    // Homes: 0700, owned by the account, named from the final passwd and group files.
    assert.deepEqual(
      [files.get('home/nonroot')?.mode, files.get('home/nonroot')?.uid, files.get('home/nonroot')?.uname],
      [0o700, 65532, 'nonroot'],
    );
    // apko's zero mode for a folder whose permissions the file did not give.
    assert.deepEqual([files.get('data')?.mode, files.get('data')?.uid], [0, 65532]);
    assert.equal(files.get('data/empty')?.mode, 0o600);
    const apkoJson = JSON.parse(files.get('etc/apko.json')?.body ?? '');
    assert.equal(apkoJson.accounts['run-as'], '65532');
    assert.deepEqual(apkoJson.accounts.users, [
      { username: 'nonroot', uid: 65532, gid: 65532, homedir: '/home/nonroot' },
      { username: 'svc', uid: 1000, shell: '/bin/false', homedir: '/home/svc' },
    ]);
    assert.deepEqual(apkoJson.paths[0], { path: '/data', type: 'directory', uid: 65532, gid: 65532 });
    assert.deepEqual(apkoJson.contents.repositories, ['./testdata/packages']);
    assert.ok(files.get('etc/apko.json')?.body.includes('"FOO":"a\\u0026b"'), 'Go escapes & in JSON');
    const config = JSON.parse(Buffer.from(image.config.bytes).toString());
    assert.equal(config.config.User, '65532');
    assert.deepEqual(config.config.Cmd, ['run', '--flag', 'two words']);
  });

  it('refuses what it cannot build as apko does, naming it', async () => {
    const dir = await tempDir();
    await copyApkoRepository(dir);
    const configPath = join(dir, 'layered.yaml');
    await writeFile(
      configPath,
      'contents:\n  keyring: [./testdata/melange.rsa.pub]\n  repositories: [./testdata/packages]\n  packages: [replayout]\nlayering: {strategy: origin, budget: 4}\narchs: [x86_64]\n',
    );
    await assert.rejects(
      buildImage({ config: await loadConfig(configPath, { hostArch: 'x86_64' }), configPath, compat: 'apko' }),
      (err: unknown) => isProvenantError(err, 'INVALID_CONFIG') && /layering/.test(err.message),
    );
  });
});

describe("apko's reading of /etc/passwd and /etc/group for the layer's owner names", () => {
  it('names ids up to the first line it cannot read, a later line winning (property-based)', () => {
    const line = fc.tuple(fc.stringMatching(/^[a-z_][a-z0-9_-]{0,8}$/), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.option(fc.string({ maxLength: 20 }), { nil: undefined }), (lines, junk) => {
        const text = `${lines.map(([n, id]) => `${n}:x:${id}:${id}:gecos:/home/${n}:/bin/sh`).join('\n')}${junk === undefined ? '' : `\n${junk}`}\n`;
        const names = readGoUsers(new TextEncoder().encode(text), 7);
        const expected = new Map(lines.map(([n, id]) => [id, n]));
        for (const [id, n] of expected) assert.equal(names.get(id), n);
      }),
      { numRuns: 300 },
    );
    assert.deepEqual([...readGoUsers(new TextEncoder().encode('root:x:0:0:root:/root:/bin/sh\n\nlate:x:1:1:::\n'), 7)], [[0, 'root']]);
    assert.deepEqual(
      [...readGoUsers(new TextEncoder().encode('root:x:0:\nwheel:x:-1:\n'), 4)],
      [
        [0, 'root'],
        [4294967295, 'wheel'],
      ],
    );
  });
});
