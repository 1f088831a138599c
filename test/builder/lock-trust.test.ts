// A lock the user gives is a file anyone may edit in a pull request: its packages are checked
// against the verified indexes, one that no index lists must be signed by a trusted key itself,
// and the lock cannot swap a trusted key.
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/builder/build.ts';
import type { Lock } from '../../src/builder/lock.ts';
import { isProvenantError } from '../../src/errors.ts';
import { readApkPackage } from '../../src/pkg/apk/package.ts';
import { buildApk } from '../../src/pkg/apk/write.ts';
import {
  EPOCH,
  loadWrittenConfig,
  packages,
  repositoryKey,
  type StaticServer,
  serveFolder,
  writeConfig,
  writeRepository,
} from '../reproduce/helpers.ts';

describe('a build from a lock', () => {
  let root: string;
  let server: StaticServer;
  let configPath: string;
  let lock: Lock;
  const key = repositoryKey();
  const build = async (l: Lock, lockPath?: string) =>
    buildImage({
      config: await loadWrittenConfig(configPath),
      configPath,
      lock: l,
      lockPath,
      archs: ['x86_64'],
      sourceDateEpoch: EPOCH,
    });
  /** An error about `image.lock.json`, at the entry of data 9.9-r0 for x86_64, of `code` and saying `what`. */
  const atDataEntry = (l: Lock, code: string, what: RegExp) => (e: unknown) => {
    assert.ok(isProvenantError(e), String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.where, 'image.lock.json');
    const i = l.contents.packages.findIndex((p) => p.name === 'data');
    assert.ok(e.message.startsWith(`image.lock.json contents.packages[${i}] (data 9.9-r0, x86_64): `), e.message);
    assert.match(e.message, what);
    return true;
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'provenant-lock-trust-'));
    await writeRepository(join(root, 'served'), key);
    server = await serveFolder(join(root, 'served'));
    configPath = await writeConfig(root, key, `${server.url}/repo`);
    lock = (await buildImage({ config: await loadWrittenConfig(configPath), configPath, archs: ['x86_64'], lockOnly: true })).lock;
  });
  after(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  /** The lock with `data` replaced by `bytes`, written into the repository as data-9.9-r0-N.apk, which its index does not list. */
  const edited = async (bytes: Uint8Array): Promise<Lock> => {
    // In the configuration's repository: a lock takes packages from nowhere else.
    const name = `repo/x86_64/data-9.9-r0-${lockCount++}.apk`;
    await writeFile(join(root, 'served', name), bytes);
    const file = `${server.url}/${name}`;
    const checksum = (await readApkPackage(bytes, { where: 'test', allowUntrusted: true })).checksum;
    const l = structuredClone(lock);
    const entry = l.contents.packages.find((p) => p.name === 'data');
    assert.ok(entry);
    Object.assign(entry, { version: '9.9-r0', url: file, checksum, signature: undefined, control: undefined, data: undefined });
    return l;
  };
  let lockCount = 0;
  const data = packages('x86_64').find((p) => p.name === 'data')!;

  it('builds from a lock whose packages the verified index lists', async () => {
    const result = await build(lock);
    assert.deepEqual(
      result.images[0]?.packages.map((p) => p.name),
      ['base', 'data', 'tool'],
    );
    // The indexes it checked the lock against are in the result, for provenance.
    assert.ok(result.indexes.length > 0);
    // A lock records no sizes: each package takes the one its verified index gives (which caps
    // its download and tells a package signed again from the one recorded).
    for (const p of result.images[0]?.locked ?? []) {
      assert.equal(p.size, (await stat(join(root, 'served', decodeURIComponent(new URL(p.url).pathname)))).size, p.name);
    }
  });

  it('refuses a package no index lists and no trusted key signed, and takes one a trusted key signed', async () => {
    const spec = { ...data, version: '9.9-r0', builddate: EPOCH };
    await assert.rejects(
      build(await edited(await buildApk(spec))),
      (e: unknown) => isProvenantError(e, 'SIGNATURE') && /not signed/.test(e.message),
    );
    const other = repositoryKey();
    await assert.rejects(
      build(await edited(await buildApk(spec, { key: { privateKeyPem: other.privateKeyPem, name: key.name } }))),
      (e: unknown) => isProvenantError(e) && (e.code === 'SIGNATURE' || e.code === 'UNTRUSTED_KEY'),
    );
    const signed = await build(await edited(await buildApk(spec, { key: { privateKeyPem: key.privateKeyPem, name: key.name } })));
    assert.equal(signed.images[0]?.packages.find((p) => p.name === 'data')?.version, '9.9-r0');
  });

  it('names the lock file and the entry when a package no index lists is refused', async () => {
    const spec = { ...data, version: '9.9-r0', builddate: EPOCH };
    const unsigned = await edited(await buildApk(spec));
    await assert.rejects(build(unsigned, 'image.lock.json'), atDataEntry(unsigned, 'SIGNATURE', /not signed/));
    const untrusted = await edited(await buildApk(spec, { key: repositoryKey() }));
    await assert.rejects(
      build(untrusted, 'image.lock.json'),
      atDataEntry(untrusted, 'UNTRUSTED_KEY', /none of those keys is in the keyring/),
    );
  });

  it('names the lock file and the entry of a package relabelled to another architecture', async () => {
    // An aarch64 build of data, signed by the trusted key, locked as x86_64's.
    const trusted = { key: { privateKeyPem: key.privateKeyPem, name: key.name } };
    const l = await edited(await buildApk({ ...data, version: '9.9-r0', arch: 'aarch64', builddate: EPOCH }, trusted));
    await assert.rejects(build(l, 'image.lock.json'), atDataEntry(l, 'DIGEST_MISMATCH', /is built for aarch64, not x86_64$/));
  });

  it('refuses it from a cache that a build trusting its key filled', async () => {
    // A second configuration beside the first trusts another key too, and shares the cache.
    const other = repositoryKey();
    const otherName = 'other.rsa.pub';
    await writeFile(join(root, 'cfg', 'app', 'keys', otherName), other.publicKeyPem);
    const second = join(root, 'cfg', 'app', 'second.yaml');
    await writeFile(
      second,
      [
        'contents:',
        `  repositories: [${server.url}/repo]`,
        `  keyring: [./keys/${key.name}, ./keys/${otherName}]`,
        '  packages: [base, data, tool]',
        'archs: [x86_64]',
        '',
      ].join('\n'),
    );
    const l = await edited(
      await buildApk({ ...data, version: '9.9-r0', builddate: EPOCH }, { key: { privateKeyPem: other.privateKeyPem, name: otherName } }),
    );
    const cacheDir = join(root, 'shared-cache');
    const withCache = async (path: string) =>
      buildImage({
        config: await loadWrittenConfig(path),
        configPath: path,
        lock: l,
        archs: ['x86_64'],
        sourceDateEpoch: EPOCH,
        cacheDir,
      });
    assert.equal((await withCache(second)).images[0]?.packages.find((p) => p.name === 'data')?.version, '9.9-r0');
    await assert.rejects(
      withCache(configPath),
      (e: unknown) => isProvenantError(e, 'UNTRUSTED_KEY') && /no trusted key signed/.test(e.message),
    );
  });

  it('says the lock when a package is not the one its lock entry names', async () => {
    // data's entry names base's checksum: a file signed by a trusted key, but not that package.
    const l = structuredClone(lock);
    const base = l.contents.packages.find((p) => p.name === 'base');
    const entry = l.contents.packages.find((p) => p.name === 'data');
    assert.ok(base && entry);
    entry.checksum = base.checksum;
    await assert.rejects(build(l), (e: unknown) => {
      assert.ok(isProvenantError(e, 'DIGEST_MISMATCH'), String(e));
      // The index lists data's version as another file: refused before anything is fetched.
      assert.match(
        e.message,
        new RegExp(
          `names data \\S+ \\(x86_64\\) with checksum ${base.checksum.replace(/[+/=]/g, '\\$&')}, and the verified index lists that version with Q1`,
        ),
      );
      assert.match(e.hint ?? '', /its lock entry names/);
      return true;
    });
  });

  it("refuses a lock that holds another key's text under a trusted key's name", async () => {
    const l = structuredClone(lock);
    const other = repositoryKey();
    l.contents.keyring = l.contents.keyring.map((k) => ({ ...k, content: other.publicKeyPem }));
    await assert.rejects(build(l), (e: unknown) => isProvenantError(e, 'UNTRUSTED_KEY') && /another key/.test(e.message));
    await assert.rejects(build(l, 'image.lock.json'), (e: unknown) => {
      assert.ok(isProvenantError(e, 'UNTRUSTED_KEY'), String(e));
      assert.equal(e.where, 'image.lock.json');
      assert.match(e.message, /^image\.lock\.json contents\.keyring\[0\] holds another key than \S+ under its name$/);
      return true;
    });
  });
});
