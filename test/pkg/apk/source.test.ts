/**
 * An apk repository asked for an architecture it has no index for: the error names the
 * repository (without credentials) and the architecture, as a typed NOT_FOUND whose fields a
 * caller (the CLI, the Action) reads to say which of its inputs chose the architecture.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isProvenantError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/io/types.ts';
import { generateApkKeyPair } from '../../../src/pkg/apk/keys.ts';
import { type ApkSource, openApkSource } from '../../../src/pkg/apk/source.ts';
import { buildApk, buildApkIndex } from '../../../src/pkg/apk/write.ts';
import { DownloadCache } from '../../../src/pkg/fetch.ts';
import { MissingArchitectureError } from '../../../src/pkg/source.ts';
import { writeFixtureRepo } from '../../action/fixture-repo.ts';

describe('ApkSource.readIndex, for an architecture the repository has no index for', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let key: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-apk-archs-'));
    await writeFixtureRepo(dir);
    key = join(dir, 'keys', (await readdir(join(dir, 'keys')))[0]!);
    // The same repository over HTTP: a missing file is a 404.
    server = createServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      readFile(join(dir, path)).then(
        (body) => res.writeHead(200).end(body),
        () => res.writeHead(404).end('not found'),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const open = (repository: string) =>
    openApkSource({
      repositories: [repository],
      keyring: [key],
      packages: ['hello'],
      configPath: 'image.yaml',
      baseDir: dir,
      cache: undefined,
      logger: silentLogger,
    });

  it('a local repository: the repository as configured, the architecture, and the file that is not there', async () => {
    const source = await open('./repo');
    assert.equal((await source.readIndex('aarch64')).files.length, 1, 'an architecture it has is read');
    await assert.rejects(source.readIndex('riscv64'), (e) => {
      assert.ok(e instanceof MissingArchitectureError, String(e));
      assert.ok(isProvenantError(e, 'NOT_FOUND'));
      assert.equal(e.repository, './repo');
      assert.equal(e.architecture, 'riscv64');
      assert.equal(e.where, 'image.yaml');
      assert.equal(e.message, `the repository ./repo has no index for riscv64: ${dir}/repo/riscv64/APKINDEX.tar.gz does not exist`);
      assert.match(e.hint ?? '', /^the configuration's archs choose the architectures built, and --platform or --arch a part of them/);
      return true;
    });
  });

  it('an HTTP repository answering 404: named without its credentials', async () => {
    const source = await open(`${base.replace('http://', 'http://user:secret@')}/repo`);
    await assert.rejects(source.readIndex('s390x'), (e) => {
      assert.ok(e instanceof MissingArchitectureError, String(e));
      assert.equal(e.repository, `${base}/repo`);
      assert.equal(
        e.message,
        `the repository ${base}/repo has no index for s390x: ${base}/repo/s390x/APKINDEX.tar.gz does not exist (HTTP 404)`,
      );
      assert.doesNotMatch(e.message, /secret/);
      return true;
    });
  });

  it("lockSources: every location without its credentials, and a lock's key found under such a name", async () => {
    const withCredentials = base.replace('http://', 'http://user:secret@');
    const keyUrl = `${withCredentials}/keys/${key.slice(key.lastIndexOf('/') + 1)}`;
    const options = {
      repositories: [`${withCredentials}/repo`],
      buildRepositories: [`@b ${withCredentials}/build`],
      runtimeRepositories: [`${withCredentials}/runtime`],
      keyring: [keyUrl],
      packages: ['hello'],
      configPath: 'image.yaml',
      baseDir: dir,
      cache: undefined,
      logger: silentLogger,
    };
    const sources = (await openApkSource(options)).lockSources(['aarch64']);
    assert.doesNotMatch(JSON.stringify(sources), /user|secret/);
    assert.deepEqual(
      sources.keyring.map((k) => k.url),
      [keyUrl.replace('user:secret@', '')],
    );
    // The lock's key, named without the credentials, is the one held against the configuration's.
    const named = keyUrl.replace('user:secret@', '');
    await assert.rejects(openApkSource({ ...options, lockedKeys: [{ name: named, content: 'another key' }] }), (e) =>
      isProvenantError(e, 'UNTRUSTED_KEY'),
    );
  });
});

describe('ApkSource.requestRefusal, for a repository tag', () => {
  const open = (repositories: string[], buildRepositories: string[] = []) =>
    openApkSource({
      repositories,
      buildRepositories,
      keyring: [],
      packages: [],
      configPath: 'image.yaml',
      baseDir: '.',
      cache: undefined,
      logger: silentLogger,
    });
  const refusal = (source: ApkSource, text: string) =>
    source.requestRefusal(text, source.request(text, 'image.yaml:7:5'), 'image.yaml:7:5');

  it('refuses a tag no repository has, as apk refuses such a world, naming the tags there are', async () => {
    const untagged = await open(['http://127.0.0.1:9/main']);
    const e = refusal(untagged, 'busybox@edge');
    assert.ok(isProvenantError(e, 'INVALID_CONFIG'));
    assert.equal(e.message, '"busybox@edge" asks for the repository tag @edge, and no repository has it');
    assert.equal(e.where, 'image.yaml:7:5');
    assert.match(e.hint ?? '', /no repository is tagged/);
    const tagged = await open(['http://127.0.0.1:9/main', '@local ./packages'], ['@testing http://127.0.0.1:9/testing']);
    for (const text of ['busybox@edge', 'busybox=1.36.1-r0@edge', '!busybox@edge']) {
      const t = refusal(tagged, text);
      assert.ok(isProvenantError(t, 'INVALID_CONFIG'), text);
      assert.match(t.message, /@edge/, text);
      assert.match(t.hint ?? '', /@local, @testing/, text);
    }
  });

  it('takes a tag a repository or a build repository has, and an entry without one; request itself refuses no tag', async () => {
    const source = await open(['http://127.0.0.1:9/main', '@local ./packages'], ['@testing http://127.0.0.1:9/testing']);
    assert.equal(source.request('hello@local', 'image.yaml').tag, 'local');
    assert.equal(source.request('hello=1.0-r0@testing', 'image.yaml').tag, 'testing');
    assert.equal(source.request('hello', 'image.yaml').tag, undefined);
    for (const text of ['hello@local', 'hello=1.0-r0@testing', 'hello']) assert.equal(refusal(source, text), undefined, text);
    // Parsing is not judging: a rebuild from a provenance reads its entries whatever their tag (../../../src/builder/plan.ts).
    assert.equal(source.request('hello@edge', 'image.yaml').tag, 'edge');
  });
});

describe('openApkSource, with two keyring entries of one file name', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-apk-samename-'));
    const [a, b] = [generateApkKeyPair('k1.rsa', { bits: 2048 }), generateApkKeyPair('k1.rsa', { bits: 2048 })];
    for (const [sub, pem] of [
      ['a', a.publicKeyPem],
      ['b', b.publicKeyPem],
      ['c', a.publicKeyPem],
    ] as const) {
      await mkdir(join(dir, 'keys', sub), { recursive: true });
      await writeFile(join(dir, 'keys', sub, 'k1.rsa.pub'), pem);
    }
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  const open = (keyring: string[]) =>
    openApkSource({
      repositories: [],
      keyring,
      packages: [],
      configPath: 'image.yaml',
      baseDir: dir,
      cache: undefined,
      logger: silentLogger,
    });

  it('refuses two different keys, naming both entries: apk finds a key by its file name, and /etc/apk/keys holds one', async () => {
    await assert.rejects(open(['./keys/a/k1.rsa.pub', './keys/b/k1.rsa.pub']), (e) => {
      assert.ok(isProvenantError(e, 'UNTRUSTED_KEY'), String(e));
      assert.equal(e.message, 'the keyring holds two different keys named "k1.rsa.pub": ./keys/a/k1.rsa.pub and ./keys/b/k1.rsa.pub');
      return true;
    });
  });

  it('takes the same key under one name twice as one, and the lock records its text for both entries', async () => {
    const source = await open(['./keys/a/k1.rsa.pub', './keys/c/k1.rsa.pub']);
    const text = await readFile(join(dir, 'keys', 'a', 'k1.rsa.pub'), 'utf8');
    assert.deepEqual(
      source.lockSources(['x86_64']).keyring.map((k) => k.content),
      [text, text],
    );
    assert.deepEqual(
      source.keys().map((k) => k.name),
      ['k1.rsa.pub'],
    );
  });
});

describe('openApkSource, with one key in two texts under one file name', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-apk-sametext-'));
    const a = generateApkKeyPair('k1.rsa', { bits: 2048 });
    for (const [sub, pem] of [
      ['a', a.publicKeyPem],
      ['crlf', a.publicKeyPem.replace(/\n/g, '\r\n')],
    ] as const) {
      await mkdir(join(dir, 'keys', sub), { recursive: true });
      await writeFile(join(dir, 'keys', sub, 'k1.rsa.pub'), pem);
    }
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  const open = (lockedKeys?: { name: string; content: string | undefined }[]) =>
    openApkSource({
      repositories: [],
      keyring: ['./keys/a/k1.rsa.pub', './keys/crlf/k1.rsa.pub'],
      packages: [],
      configPath: 'image.yaml',
      baseDir: dir,
      cache: undefined,
      logger: silentLogger,
      ...(lockedKeys === undefined ? {} : { lockedKeys, lockPath: 'image.lock.json' }),
    });

  it('takes them as one key, records the first text for both, and takes that lock back', async () => {
    const source = await open();
    const text = await readFile(join(dir, 'keys', 'a', 'k1.rsa.pub'), 'utf8');
    const locked = source.lockSources(['x86_64']).keyring;
    assert.deepEqual(
      locked.map((k) => k.content),
      [text, text],
    );
    // The lock holds the first entry's text for the second entry too: the same key, not another.
    const again = await open(locked.map((k) => ({ name: k.name, content: k.content })));
    assert.deepEqual(
      again.keys().map((k) => k.pem),
      [text],
    );
  });

  it('puts the text the lock holds into the image when the file holds the same key in another text', async () => {
    // The lock was made when the file read as ./keys/a's text; the file now reads with CRLF.
    const text = await readFile(join(dir, 'keys', 'a', 'k1.rsa.pub'), 'utf8');
    const source = await openApkSource({
      repositories: [],
      keyring: ['./keys/crlf/k1.rsa.pub'],
      packages: [],
      configPath: 'image.yaml',
      baseDir: dir,
      cache: undefined,
      logger: silentLogger,
      lockedKeys: [{ name: './keys/crlf/k1.rsa.pub', content: text }],
      lockPath: 'image.lock.json',
    });
    // /etc/apk/keys gets the lock's bytes: a build from one lock makes one image.
    assert.deepEqual(
      source.keys().map((k) => k.pem),
      [text],
    );
  });

  it('still refuses a lock that holds another key under the name', async () => {
    const other = generateApkKeyPair('k1.rsa', { bits: 2048 }).publicKeyPem;
    await assert.rejects(
      open([
        { name: './keys/a/k1.rsa.pub', content: other },
        { name: './keys/crlf/k1.rsa.pub', content: other },
      ]),
      (e) => {
        assert.ok(isProvenantError(e, 'UNTRUSTED_KEY'), String(e));
        assert.match(e.message, /^image\.lock\.json contents\.keyring\[0\] holds another key than/);
        return true;
      },
    );
  });
});

describe('openApkSource, with a lock whose key text is not what Provenant writes', () => {
  let dir: string;
  let pair: ReturnType<typeof generateApkKeyPair>;
  const COMMENTED = '# the repository key\n';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-apk-lockedtext-'));
    pair = generateApkKeyPair('k1.rsa', { bits: 2048 });
    for (const [sub, pem] of [
      ['spki', pair.publicKeyPem],
      ['commented', COMMENTED + pair.publicKeyPem],
    ] as const) {
      await mkdir(join(dir, 'keys', sub), { recursive: true });
      await writeFile(join(dir, 'keys', sub, 'k1.rsa.pub'), pem);
    }
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  const open = (keyring: string[], texts: string[]) =>
    openApkSource({
      repositories: [],
      keyring,
      packages: [],
      configPath: 'image.yaml',
      baseDir: dir,
      cache: undefined,
      logger: silentLogger,
      lockedKeys: keyring.map((name, i) => ({ name, content: texts[i] })),
      lockPath: 'image.lock.json',
    });

  it("refuses the same key as a PKCS#1 key or with its private key as the lock's fault, not the key file's", async () => {
    const pkcs1 = createPublicKey(pair.publicKeyPem).export({ type: 'pkcs1', format: 'pem' }) as string;
    for (const [text, holds] of [
      [pkcs1, 'a PKCS#1 RSA PUBLIC KEY'],
      [pair.privateKeyPem, 'a private key'],
    ] as const) {
      await assert.rejects(open(['./keys/spki/k1.rsa.pub'], [text]), (e) => {
        assert.ok(isProvenantError(e, 'UNTRUSTED_KEY'), String(e));
        assert.equal(
          e.message,
          `image.lock.json contents.keyring[0] (./keys/spki/k1.rsa.pub) is not an SPKI RSA public key: it holds ${holds}`,
        );
        assert.equal(e.where, 'image.lock.json');
        // The file is an SPKI key: nothing tells to convert it.
        assert.doesNotMatch(e.hint ?? '', /openssl/);
        return true;
      });
    }
  });

  it('refuses the same key with other text around it, which would go into /etc/apk/keys from the lock alone', async () => {
    for (const text of [`${pair.publicKeyPem}not a key\n`, `# from the lock\n${pair.publicKeyPem}`]) {
      await assert.rejects(open(['./keys/spki/k1.rsa.pub'], [text]), (e) => {
        assert.ok(isProvenantError(e, 'UNTRUSTED_KEY'), String(e));
        assert.equal(e.message, 'image.lock.json contents.keyring[0] holds other text than the public key of ./keys/spki/k1.rsa.pub');
        assert.equal(e.where, 'image.lock.json');
        return true;
      });
    }
  });

  it("takes what Provenant writes: a file's own text, around text and all, for each entry of its name, and a key's block in other line endings", async () => {
    const commented = COMMENTED + pair.publicKeyPem;
    const both = await open(['./keys/commented/k1.rsa.pub', './keys/spki/k1.rsa.pub'], [commented, commented]);
    assert.deepEqual(
      both.keys().map((k) => k.pem),
      [commented],
    );
    const crlf = pair.publicKeyPem.replace(/\n/g, '\r\n');
    const other = await open(['./keys/commented/k1.rsa.pub'], [crlf]);
    assert.deepEqual(
      other.keys().map((k) => k.pem),
      [crlf],
    );
  });
});

describe('ApkSource.fetch, for a package file that is not the one its checksum names', () => {
  let dir: string;
  let pem: string;
  let checksum: string;
  const url = './repo/x86_64/hello-1.0-r0.apk';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-apk-checksum-from-'));
    const key = generateApkKeyPair('k.rsa', { bits: 2048 });
    pem = key.publicKeyPem;
    const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
    const spec = { name: 'hello', version: '1.0-r0', arch: 'x86_64', files: [] };
    const listed = await buildApk(spec, { key: signing });
    const served = await buildApk({ ...spec, description: 'changed' }, { key: signing });
    const index = await buildApkIndex([listed], { key: signing });
    checksum = index.packages[0]!.checksum;
    await mkdir(join(dir, 'keys'));
    await mkdir(join(dir, 'repo', 'x86_64'), { recursive: true });
    await writeFile(join(dir, 'keys', key.name), pem);
    await writeFile(join(dir, 'repo', 'x86_64', 'APKINDEX.tar.gz'), index.bytes);
    await writeFile(join(dir, url), served);
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  const open = (lock: { lockPath?: string; lockedKeys?: { name: string; content: string }[] }, cache: boolean) =>
    openApkSource({
      repositories: ['./repo'],
      keyring: ['./keys/k.rsa.pub'],
      packages: ['hello'],
      configPath: join(dir, 'image.yaml'),
      baseDir: dir,
      cache: cache ? new DownloadCache(join(dir, 'cache')) : undefined,
      logger: silentLogger,
      ...lock,
    });
  const locked = () => ({ name: 'hello', version: '1.0-r0', architecture: 'x86_64', url, checksum });

  it("says the checksum is the index's in a build given no lock, and the lock's in one given a lock", async () => {
    for (const cache of [false, true]) {
      const fromIndex = await open({}, cache);
      await assert.rejects(fromIndex.fetch(locked()), (e) => {
        assert.ok(isProvenantError(e, 'DIGEST_MISMATCH'), String(e));
        assert.match(e.message, new RegExp(`, the index \\./repo/x86_64/APKINDEX\\.tar\\.gz names ${checksum.replace(/[+/]/g, '\\$&')}$`));
        assert.doesNotMatch(e.message, /lock/);
        return true;
      });
      const fromLock = await open({ lockPath: 'image.lock.json', lockedKeys: [{ name: './keys/k.rsa.pub', content: pem }] }, cache);
      await assert.rejects(fromLock.fetch(locked()), (e) => {
        assert.ok(isProvenantError(e, 'DIGEST_MISMATCH'), String(e));
        assert.match(e.message, / the lock image\.lock\.json names Q1/);
        assert.match(e.hint ?? '', /since the lock was made/);
        return true;
      });
    }
  });
});
