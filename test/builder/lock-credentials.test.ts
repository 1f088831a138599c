// A repository's credentials (`https://user:secret@host/repo`) are the configuration's: the lock,
// which users commit, records every URL without them, and a build from it fetches with the
// configuration's.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createCleartextMessage, generateKey, sign } from 'openpgp';
import { readTar, type TarWriteEntry, tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { layerBytes } from '../../src/builder/layer.ts';
import { formatLock, parseLock } from '../../src/builder/lock.ts';
import { writeAr } from '../../src/pkg/deb/ar.ts';
import { useTempDir } from '../helpers/temp.ts';
import {
  EPOCH,
  loadWrittenConfig,
  repositoryKey,
  type StaticServer,
  serveFolder,
  writeConfig,
  writeRepository,
} from '../reproduce/helpers.ts';

const tempDir = useTempDir('lock-credentials');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const file = (name: string, body: Uint8Array): TarWriteEntry => ({ header: tarHeader({ name, size: body.length, mode: 0o644 }), body });
const dir = (name: string): TarWriteEntry => ({ header: tarHeader({ name, type: 'dir', mode: 0o755 }) });

describe('a lock of a repository that needs credentials', () => {
  let server: StaticServer;
  let configPath: string;
  const key = repositoryKey();

  before(async () => {
    const root = await tempDir();
    await writeRepository(join(root, 'served'), key);
    // Refuses every request without the credentials.
    server = await serveFolder(join(root, 'served'), 'alice:s3cret-pw');
    configPath = await writeConfig(root, key, `${server.url.replace('http://', 'http://alice:s3cret-pw@')}/repo`);
  });
  after(async () => {
    await server?.close();
  });

  it('is written without them, and builds with the configuration’s', async () => {
    const locked = await buildImage({ config: await loadWrittenConfig(configPath), configPath, archs: ['x86_64'], lockOnly: true });
    const text = formatLock(locked.lock);
    assert.doesNotMatch(text, /alice|s3cret/);
    assert.ok(locked.lock.contents.packages.length > 0);
    for (const p of locked.lock.contents.packages) assert.ok(p.url.startsWith(`${server.url}/repo/x86_64/`), p.url);
    assert.deepEqual(
      locked.lock.contents.repositories.map((r) => r.url),
      [`${server.url}/repo/x86_64/APKINDEX.tar.gz`],
    );
    const built = await buildImage({
      config: await loadWrittenConfig(configPath),
      configPath,
      lock: parseLock(text, 'image.lock.json'),
      lockPath: 'image.lock.json',
      archs: ['x86_64'],
      sourceDateEpoch: EPOCH,
    });
    assert.deepEqual(
      built.lock.contents.packages.map((p) => `${p.name}-${p.version}`),
      locked.lock.contents.packages.map((p) => `${p.name}-${p.version}`),
    );
    assert.doesNotMatch(formatLock(built.lock), /alice|s3cret/);
    assert.ok(
      server.requests.some((r) => r.endsWith('.apk')),
      'the packages were fetched from the server',
    );
    // Nor does the image's own /etc/apk/repositories keep them: an image is published.
    let repositories: string | undefined;
    for await (const e of readTar([gunzipSync(await layerBytes(built.images[0]!.layers[0]!))])) {
      const parts: Uint8Array[] = [];
      for await (const c of e.body) parts.push(c);
      if (e.header.name === 'etc/apk/repositories') repositories = Buffer.concat(parts).toString('utf8');
    }
    assert.equal(repositories, `${server.url}/repo\n`);
  });

  it('builds with the configuration’s through a download cache, cold and warm', async () => {
    const cacheDir = join(await tempDir(), 'cache');
    const lock = (
      await buildImage({ config: await loadWrittenConfig(configPath), configPath, archs: ['x86_64'], lockOnly: true, cacheDir })
    ).lock;
    assert.doesNotMatch(formatLock(lock), /alice|s3cret/);
    for (const round of ['cold', 'warm']) {
      const built = await buildImage({
        config: await loadWrittenConfig(configPath),
        configPath,
        lock,
        lockPath: 'image.lock.json',
        archs: ['x86_64'],
        sourceDateEpoch: EPOCH,
        cacheDir,
      });
      assert.equal(built.lock.contents.packages.length, lock.contents.packages.length, round);
    }
  });
});

/** A signed Debian repository at `d`/served/repo, suite `stable`, amd64, of one crafted package, `hello`. */
async function debianRepository(d: string): Promise<void> {
  const repo = join(d, 'served', 'repo');
  const k = await generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'archive' }], format: 'object' });
  await writeFile(join(d, 'archive.gpg'), k.publicKey.write());
  const control = 'Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: A <a@example.org>\nDescription: crafted\n';
  const body = enc('hi\n');
  const deb = writeAr([
    { name: 'debian-binary', data: enc('2.0\n') },
    { name: 'control.tar.gz', data: gzipSync(await tarBytes([dir('./'), file('./control', enc(control))])) },
    { name: 'data.tar.gz', data: gzipSync(await tarBytes([dir('./'), dir('./etc/'), file('./etc/hello', body)])) },
  ]);
  await mkdir(join(repo, 'pool'), { recursive: true });
  await writeFile(join(repo, 'pool', 'hello_1.0-1_amd64.deb'), deb);
  const packagesFile = enc(
    `Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nFilename: pool/hello_1.0-1_amd64.deb\nSize: ${deb.length}\nSHA256: ${sha256(deb)}\n`,
  );
  await mkdir(join(repo, 'dists', 'stable', 'main', 'binary-amd64'), { recursive: true });
  await writeFile(join(repo, 'dists', 'stable', 'main', 'binary-amd64', 'Packages'), packagesFile);
  const release = `Origin: Test\nSuite: stable\nCodename: stable\nDate: ${new Date().toUTCString()}\nArchitectures: amd64\nComponents: main\nSHA256:\n ${sha256(packagesFile)} ${packagesFile.length} main/binary-amd64/Packages\n`;
  const signed = await sign({ message: await createCleartextMessage({ text: release }), signingKeys: [k.privateKey] });
  await writeFile(join(repo, 'dists', 'stable', 'InRelease'), signed);
}

describe('a lock of a Debian mirror that needs credentials', () => {
  let server: StaticServer;
  let d: string;
  before(async () => {
    d = await tempDir();
    await debianRepository(d);
    server = await serveFolder(join(d, 'served'), 'alice:s3cret-pw');
  });
  after(async () => {
    await server?.close();
  });

  it('is written without them, and builds with the configuration’s', async () => {
    const path = join(d, 'image.yaml');
    const mirror = `${server.url.replace('http://', 'http://alice:s3cret-pw@')}/repo`;
    await writeFile(
      path,
      `contents:\n  repositories:\n    - deb [signed-by=./archive.gpg] ${mirror} stable main\n  packages: [hello]\narchs: [x86_64]\n`,
    );
    const options = { configPath: path, cacheDir: join(d, 'cache'), memo: false };
    const locked = await buildImage({ ...options, config: await loadConfig(path, { hostArch: 'x86_64' }), lockOnly: true });
    const text = formatLock(locked.lock);
    assert.doesNotMatch(text, /alice|s3cret/);
    assert.deepEqual(
      locked.lock.contents.packages.map((p) => p.url),
      [`${server.url}/repo/pool/hello_1.0-1_amd64.deb`],
    );
    const built = await buildImage({
      ...options,
      config: await loadConfig(path, { hostArch: 'x86_64' }),
      lock: parseLock(text, 'image.lock.json'),
    });
    assert.doesNotMatch(formatLock(built.lock), /alice|s3cret/);
    assert.ok(
      server.requests.some((r) => r.endsWith('.deb')),
      'the package was fetched from the server',
    );
  });
});
