// The Debian source's architecture names (src/pkg/deb/source.ts): the configuration's apk names
// are mapped to Debian's once, where they are taken in; a lock entry, which names Debian's, is
// used as it is. Some names are both, with other meanings (apk's armhf is linux/arm/v6, Debian's
// armel; Debian's armhf is linux/arm/v7, apk's armv7): mapped twice, an armv7 build checked its
// armhf .debs against armel and refused every one. A local signed repository (file://) with
// armhf and armel indexes stands in for a mirror.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createCleartextMessage, generateKey, readKey, sign } from 'openpgp';
import { type TarWriteEntry, tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { isProvenantError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/io/types.ts';
import { writeAr } from '../../../src/pkg/deb/ar.ts';
import { type DebCandidate, debCandidate } from '../../../src/pkg/deb/candidates.ts';
import { DebRepositorySource } from '../../../src/pkg/deb/source.ts';
import { DownloadCache } from '../../../src/pkg/fetch.ts';
import type { CandidateIndex } from '../../../src/pkg/resolve/resolve.ts';
import { MissingArchitectureError } from '../../../src/pkg/source.ts';
import { toolMissing } from '../../helpers/images.ts';
import { useTempDir } from '../../helpers/temp.ts';

const tempDir = useTempDir('deb-source-arch');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
const file = (name: string, body: Uint8Array): TarWriteEntry => ({ header: tarHeader({ name, size: body.length, mode: 0o644 }), body });
const dir = (name: string): TarWriteEntry => ({ header: tarHeader({ name, type: 'dir', mode: 0o755 }) });

/** A .deb of hello 1.0-1 built for `arch`, with one file. */
async function craftDeb(arch: string): Promise<Uint8Array> {
  const body = enc(`hello from ${arch}\n`);
  const control = `Package: hello\nVersion: 1.0-1\nArchitecture: ${arch}\nMaintainer: A <a@example.org>\nDescription: says hi\n`;
  const controlTar = await tarBytes([
    dir('./'),
    file('./control', enc(control)),
    file('./md5sums', enc(`${md5(body)}  usr/share/hello\n`)),
  ]);
  const data = await tarBytes([dir('./'), dir('./usr/'), dir('./usr/share/'), file('./usr/share/hello', body)]);
  return writeAr([
    { name: 'debian-binary', data: enc('2.0\n') },
    { name: 'control.tar.gz', data: gzipSync(controlTar) },
    { name: 'data.tar.gz', data: gzipSync(data) },
  ]);
}

/**
 * A signed repository at `dir`/repo, suite `stable`, whose Release lists `archs`: for each, a
 * Packages index and the .deb of hello built for it under pool/. Returns a source over it and the
 * .debs by architecture.
 */
async function repository(d: string, archs: readonly string[], extra: { cache?: boolean; lockPath?: string } = {}) {
  const repo = join(d, 'repo');
  const k = await generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'archive' }], format: 'object' });
  await writeFile(join(d, 'archive.gpg'), k.publicKey.write());
  const debs = new Map<string, Uint8Array>();
  const lines: string[] = [];
  await mkdir(join(repo, 'pool'), { recursive: true });
  for (const arch of archs) {
    const deb = await craftDeb(arch);
    debs.set(arch, deb);
    const filename = `pool/hello_1.0-1_${arch}.deb`;
    await writeFile(join(repo, filename), deb);
    const packages = enc(
      `Package: hello\nVersion: 1.0-1\nArchitecture: ${arch}\nFilename: ${filename}\nSize: ${deb.length}\nSHA256: ${sha256(deb)}\n`,
    );
    await mkdir(join(repo, 'dists', 'stable', 'main', `binary-${arch}`), { recursive: true });
    await writeFile(join(repo, 'dists', 'stable', 'main', `binary-${arch}`, 'Packages'), packages);
    lines.push(` ${sha256(packages)} ${packages.length} main/binary-${arch}/Packages`);
  }
  const release = `Origin: Test\nSuite: stable\nCodename: stable\nDate: ${new Date().toUTCString()}\nArchitectures: ${archs.join(' ')}\nComponents: main\nSHA256:\n${lines.join('\n')}\n`;
  const signed = await sign({ message: await createCleartextMessage({ text: release }), signingKeys: [k.privateKey] });
  await writeFile(join(repo, 'dists', 'stable', 'InRelease'), signed);
  const source = new DebRepositorySource({
    repositories: [`deb [signed-by=./archive.gpg] file://${repo} stable main`],
    keyring: [],
    packages: ['hello'],
    configPath: join(d, 'image.yaml'),
    baseDir: d,
    cache: extra.cache === false ? undefined : new DownloadCache(join(d, 'cache')),
    lockPath: extra.lockPath,
    logger: { debug() {}, info() {}, warn() {} },
  });
  return { source, repo, debs };
}

/** The lock entry of hello as a build for `arch` (apk's name) resolves it. */
async function lockedHello(source: DebRepositorySource, arch: string) {
  const { candidates } = await source.readIndex(arch);
  const [hello] = (candidates as CandidateIndex<DebCandidate>).named('hello');
  assert.ok(hello !== undefined, `hello for ${arch}`);
  return source.lockEntry(hello, arch);
}

describe('Debian architecture names, each mapped once', () => {
  it('armv7 (linux/arm/v7) locks and fetches armhf .debs, and apk armhf (linux/arm/v6) armel ones', async () => {
    const { source } = await repository(await tempDir(), ['armhf', 'armel']);
    const v7 = await lockedHello(source, 'armv7');
    assert.equal(v7.architecture, 'armhf');
    assert.match(v7.url, /hello_1\.0-1_armhf\.deb$/);
    // The entry names Debian's armhf, which the .deb says too: not mapped again to armel.
    assert.equal((await source.fetch(v7)).package.architecture, 'armhf');
    const v6 = await lockedHello(source, 'armhf');
    assert.equal(v6.architecture, 'armel');
    assert.equal((await source.fetch(v6)).package.architecture, 'armel');
    // What the lock records of the repositories names Debian's too.
    assert.deepEqual(
      source.lockSources(['armv7', 'armhf']).repositories.map((r) => r.architecture),
      ['armhf', 'armel'],
    );
  });

  it('refuses a .deb built for another architecture than its lock entry names', async () => {
    const d = await tempDir();
    const { source, repo, debs } = await repository(d, ['armhf', 'armel']);
    const armel = debs.get('armel') as Uint8Array;
    // The armel file under an armhf entry (a lock edited, or a provenance).
    const entry = {
      name: 'hello',
      version: '1.0-1',
      architecture: 'armhf',
      url: `file://${repo}/pool/hello_1.0-1_armel.deb`,
      checksum: `sha256:${sha256(armel)}`,
    };
    await assert.rejects(source.fetch(entry), (err: unknown) => {
      assert.ok(isProvenantError(err, 'DIGEST_MISMATCH'), String(err));
      assert.match(err.message, /is built for armel, not armhf$/);
      return true;
    });
  });

  it("names a missing architecture in Debian's name, the configuration's and the platform, and what a listed name of the same spelling means", async () => {
    const d = await tempDir();
    const { source, repo } = await repository(d, ['amd64', 'armhf']);
    await assert.rejects(source.readIndex('armhf'), (err: unknown) => {
      assert.ok(err instanceof MissingArchitectureError, String(err));
      assert.equal(err.architecture, 'armhf');
      assert.equal(
        err.message,
        `the repository file://${repo} stable has no index for armel (Debian's name for armhf, linux/arm/v6): its Release lists no armel (it lists amd64, armhf); its armhf is Debian's, linux/arm/v7 (armv7 in archs), not the configuration's armhf`,
      );
      return true;
    });
    // A name the Release does not list in another meaning: no note.
    await assert.rejects(source.readIndex('aarch64'), (err: unknown) => {
      assert.ok(err instanceof MissingArchitectureError, String(err));
      assert.equal(
        err.message,
        `the repository file://${repo} stable has no index for arm64 (Debian's name for aarch64, linux/arm64): its Release lists no arm64 (it lists amd64, armhf)`,
      );
      return true;
    });
  });
});

// A final review: a build without a lock, whose .deb did not have the SHA-256 its Packages index
// gives, said "the lock names ..." (without a cache) or only "expected ..." (with one).
describe('a .deb that is not the file expected: the error says where the SHA-256 came from', () => {
  for (const cache of [false, true]) {
    it(`the Packages index without a lock, the lock with one (${cache ? 'with' : 'without'} a cache)`, async () => {
      const d = await tempDir();
      const { source, repo } = await repository(d, ['amd64'], { cache });
      const entry = await lockedHello(source, 'x86_64');
      // The mirror now serves another file of the same size under the name.
      const path = join(repo, 'pool', 'hello_1.0-1_amd64.deb');
      const bytes = await readFile(path);
      bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 1;
      await writeFile(path, bytes);
      const wanted = entry.checksum.replace('sha256:', '');
      await assert.rejects(source.fetch(entry), (err: unknown) => {
        assert.ok(isProvenantError(err, 'DIGEST_MISMATCH'), String(err));
        assert.match(err.message, new RegExp(`${sha256(bytes)}.*the verified Packages index names ${wanted}$`));
        assert.doesNotMatch(`${err.message} ${err.hint}`, /lock/);
        return true;
      });
      const { source: locked } = await repository(await tempDir(), ['amd64'], { cache, lockPath: 'image.lock.json' });
      await assert.rejects(locked.fetch({ ...entry, url: `file://${path}` }), (err: unknown) => {
        assert.ok(isProvenantError(err, 'DIGEST_MISMATCH'), String(err));
        assert.match(err.message, new RegExp(`the lock image\\.lock\\.json names ${wanted}$`));
        assert.match(err.hint ?? '', /lock again/);
        return true;
      });
    });
  }
});

describe("a Debian source's keyring that cannot be read", () => {
  const options = (d: string, line: string) => ({
    repositories: [line],
    keyring: [],
    packages: ['hello'],
    configPath: join(d, 'image.yaml'),
    baseDir: d,
    cache: undefined,
    logger: { debug() {}, info() {}, warn() {} },
  });

  it('a signed-by file that does not exist: the configuration, the source line and what signed-by takes are named', async () => {
    const d = await tempDir();
    // Nothing listens there: the keyring is read before any fetch.
    const source = new DebRepositorySource(options(d, 'deb [signed-by=./missing.gpg] http://user:secret@127.0.0.1:9/debian stable main'));
    await assert.rejects(source.readIndex('x86_64'), (err: unknown) => {
      assert.ok(isProvenantError(err, 'NOT_FOUND'), String(err));
      assert.equal(
        err.message,
        `the keyring of the Debian source \`deb [signed-by=./missing.gpg] http://127.0.0.1:9/debian stable main\` (signed-by=) cannot be read: ${d}/missing.gpg does not exist`,
      );
      assert.equal(err.where, join(d, 'image.yaml'));
      assert.match(err.hint ?? '', new RegExp(`relative to the configuration's folder \\(${d}\\)`));
      return true;
    });
  });

  it('contents.keyring, which Debian sources do not read: refused, naming the keys and how to give them with signed-by=', async () => {
    const d = await tempDir();
    const source = new DebRepositorySource({
      ...options(d, 'deb http://127.0.0.1:9/debian stable main'),
      keyring: ['./does-not-exist.gpg', 'https://user:secret@keys.example.org/repo.asc'],
    });
    await assert.rejects(source.readIndex('x86_64'), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
      assert.equal(
        err.message,
        "contents.keyring (./does-not-exist.gpg, https://keys.example.org/repo.asc) is for apk repositories: Debian sources take their keys from each line's signed-by=, and do not read it",
      );
      assert.equal(err.where, join(d, 'image.yaml'));
      assert.ok(
        err.hint?.includes(
          '`deb [signed-by=./does-not-exist.gpg,https://keys.example.org/repo.asc] http://127.0.0.1:9/debian stable main`',
        ),
        err.hint,
      );
      return true;
    });
  });

  it("no signed-by, on a machine without Debian's archive keyring (an Ubuntu runner): says to install it or to name one", {
    skip: toolMissing('bwrap'),
  }, async () => {
    const d = await tempDir();
    // /usr/share/keyrings hidden by an empty folder, in a mount namespace of its own.
    const script = `
      import { DebRepositorySource } from ${JSON.stringify(new URL('../../../src/pkg/deb/source.ts', import.meta.url).href)};
      const source = new DebRepositorySource(${JSON.stringify(options(d, 'deb http://127.0.0.1:9/debian stable main'))});
      try { await source.readIndex('x86_64'); } catch (err) {
        console.log(JSON.stringify({ code: err.code, message: err.message, where: err.where, hint: err.hint }));
      }`;
    const out = spawnSync(
      'bwrap',
      ['--dev-bind', '/', '/', '--tmpfs', '/usr/share/keyrings', process.execPath, '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    assert.equal(out.status, 0, out.stderr);
    const err = JSON.parse(out.stdout) as { code: string; message: string; where: string; hint: string };
    assert.equal(err.code, 'NOT_FOUND');
    assert.equal(
      err.message,
      "the Debian source `deb http://127.0.0.1:9/debian stable main` names no keyring (signed-by=), and Debian's archive keyring cannot be read: /usr/share/keyrings/debian-archive-keyring.gpg does not exist",
    );
    assert.equal(err.where, join(d, 'image.yaml'));
    assert.match(err.hint, /^install the debian-archive-keyring package .*, or give the repository's keyring with signed-by=PATH/);
  });
});

describe("what checked a Debian source's Release, for provenance", () => {
  it('the InRelease names the keyring files by name and digest (no path of this machine) and the fingerprints that signed it; a Packages file names none', async () => {
    const d = await tempDir();
    const { source } = await repository(d, ['amd64']);
    const keyringBytes = await readFile(join(d, 'archive.gpg'));
    const fingerprint = (await readKey({ binaryKey: keyringBytes })).getFingerprint();
    // Read twice: the second time the signature check is the one the cache kept.
    for (const round of ['fetched', 'kept']) {
      const { files } = await source.readIndex('x86_64');
      const [release, packages] = files;
      assert.equal(release?.url, `file://${d}/repo/dists/stable/InRelease`, round);
      assert.deepEqual(
        release?.verifiedBy,
        { keyring: [{ name: 'archive.gpg', sha256: sha256(keyringBytes) }], signers: [fingerprint] },
        round,
      );
      assert.equal(packages?.verifiedBy, undefined, round);
    }
  });
});

describe('contents.packages entries with an architecture qualifier or a restriction', () => {
  const source = new DebRepositorySource({
    keyring: [],
    repositories: ['deb http://127.0.0.1:9/debian bookworm main'],
    packages: [],
    configPath: 'image.yaml',
    baseDir: '.',
    cache: undefined,
    logger: silentLogger,
  });
  const refused = (text: string, arch: string, message: RegExp) =>
    assert.throws(
      () => source.request(text, 'image.yaml:4:5', arch),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
        assert.equal(err.where, 'image.yaml:4:5');
        assert.match(err.message, message);
        return true;
      },
    );

  it("takes the native package as apt-get install does: :native, :all, :any and the image's own architecture (Debian's name)", () => {
    for (const [text, arch] of [
      ['libc6:amd64', 'x86_64'],
      ['libc6:arm64', 'aarch64'],
      ['libc6:armhf', 'armv7'],
      ['libc6:armel', 'armhf'],
      ['libc6:native', 'x86_64'],
      ['libc6:all', 'aarch64'],
      ['libc6:any', 'x86_64'],
    ] as const) {
      assert.deepEqual(source.request(text, 'image.yaml:4:5', arch), { name: 'libc6', constraint: undefined }, `${text} on ${arch}`);
    }
    assert.deepEqual(source.request('libc6:amd64=2.36-9', 'image.yaml:4:5', 'x86_64'), {
      name: 'libc6',
      constraint: { op: '=', version: '2.36-9' },
    });
    assert.deepEqual(source.request('libc6:amd64 (>= 2.36)', 'image.yaml:4:5', 'x86_64'), {
      name: 'libc6',
      constraint: { op: '>=', version: '2.36' },
    });
  });

  it('refuses a foreign architecture (multiarch) at the entry, naming the one built, not installing the native package', () => {
    refused('libc6:i386', 'x86_64', /"libc6:i386" asks for i386's package in an image of amd64 \(linux\/amd64\): .*multiarch/);
    refused('dash:arm64', 'x86_64', /asks for arm64's package in an image of amd64/);
    refused('libc6:amd64=2.36-9', 'aarch64', /asks for amd64's package in an image of arm64 \(linux\/arm64\)/);
    // apk's armhf is Debian's armel: Debian's armhf is another architecture.
    refused('libc6:armhf', 'armhf', /asks for armhf's package in an image of armel/);
    // The hint names the architecture as archs takes it: Debian's armhf is armv7 there.
    assert.throws(
      () => source.request('libc6:armhf', 'image.yaml', 'x86_64'),
      (err: unknown) => isProvenantError(err) && /archs: \[armv7\]/.test(err.hint ?? ''),
    );
  });

  it('refuses a qualifier that is no Debian architecture', () => {
    refused('libc6:bogus', 'x86_64', /"libc6:bogus" names the architecture "bogus", which is no Debian architecture$/);
  });

  it("refuses a build relation's restrictions, which apt-get install does not take, rather than installing the package everywhere", () => {
    refused('dash [!amd64]', 'x86_64', /"dash \[!amd64\]" has the restriction \[!amd64\], which only build relations/);
    refused('dash [arm64]', 'aarch64', /has the restriction \[arm64\]/);
    refused('dash <!nocheck>', 'x86_64', /has the restriction <!nocheck>/);
  });

  it("reads apt's pin (name[:arch]=version) as the relation name[:arch] (= version) is read", () => {
    for (const [name, arch] of [
      ['libstdc++6', 'x86_64'],
      ['libc6:amd64', 'x86_64'],
      ['libc6:native', 'aarch64'],
      // dpkg's names: a capital and "_" (deprecated, still taken) are the relation parser's too.
      ['Foo_bar.baz', 'x86_64'],
    ] as const) {
      assert.deepEqual(
        source.request(`${name}=1:2.0-1`, 'image.yaml', arch),
        source.request(`${name} (= 1:2.0-1)`, 'image.yaml', arch),
        name,
      );
    }
    refused('libc6:i386=2.36-9', 'x86_64', /asks for i386's package in an image of amd64/);
  });

  it("refuses apk's relation without parentheses, saying so and giving the Debian form, not a bad name or a profile list", () => {
    for (const [text, form] of [
      ['alt-b>=2.0', '"alt-b (>= 2.0)"'],
      ['alt-b<<3', '"alt-b (<< 3)"'],
      ['alt-b>2', '"alt-b (>> 2)"'],
      ['alt-b < 2', '"alt-b (<< 2)"'],
    ] as const) {
      refused(text, 'x86_64', /writes the version relation without parentheses, as apk does/);
      assert.throws(
        () => source.request(text, 'image.yaml', 'x86_64'),
        (err: unknown) => isProvenantError(err) && err.hint === `write ${form}, or alt-b=VERSION for one version`,
        text,
      );
    }
  });

  it('refuses several packages or alternatives in one entry, its hint the forms an entry takes (not a Depends field)', () => {
    for (const text of ['libc6 (>= 2.36), debconf | debconf-2.0', 'a | b', 'alt-b (>= 2.0']) {
      assert.throws(
        () => source.request(text, 'image.yaml', 'x86_64'),
        (err: unknown) => {
          assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
          assert.match(err.message, /^contents\.packages: /);
          assert.match(err.hint ?? '', /an item is name, name=VERSION or "name \(>= VERSION\)"/);
          assert.doesNotMatch(err.hint ?? '', /debconf/);
          return true;
        },
        text,
      );
    }
    assert.deepEqual(source.request('alt-b (>= 2.0)', 'image.yaml', 'x86_64'), { name: 'alt-b', constraint: { op: '>=', version: '2.0' } });
  });

  it('takes an entry without a qualifier or restriction as before', () => {
    assert.deepEqual(source.request('dash', 'image.yaml', 'x86_64'), { name: 'dash', constraint: undefined });
    assert.deepEqual(source.request('dash=0.5.12-2', 'image.yaml'), { name: 'dash', constraint: { op: '=', version: '0.5.12-2' } });
  });
});

describe("a Filename's URL", () => {
  const lockedUrl = (base: string, filename: string): string => {
    const source = new DebRepositorySource({
      keyring: [],
      repositories: [`deb ${base} bookworm main`],
      packages: [],
      configPath: 'image.yaml',
      baseDir: '.',
      cache: undefined,
      logger: silentLogger,
    });
    const stanza = { package: 'epoch', version: '1:0.9', architecture: 'amd64', filename, sha256: 'a'.repeat(64) };
    const repo = { url: base, suite: 'bookworm', component: 'main', order: 0 };
    return source.lockEntry(debCandidate(stanza, repo, 'amd64'), 'x86_64').url;
  };

  it('percent-encodes "%", spaces and the like in each segment, as apt quotes the path it asks for', () => {
    assert.equal(
      lockedUrl('http://127.0.0.1:9/debian', 'pool/main/e/epoch/epoch_1%3a0.9 beta#1?_amd64.deb'),
      'http://127.0.0.1:9/debian/pool/main/e/epoch/epoch_1%253a0.9%20beta%231%3F_amd64.deb',
    );
    // What a path takes as it is stays: existing locks keep their URLs.
    const plain = 'pool/main/libs/libstdc++6_12.2.0-14+deb12u1~rc1_amd64.deb';
    assert.equal(lockedUrl('http://127.0.0.1:9/debian/', plain), `http://127.0.0.1:9/debian/${plain}`);
  });

  it('gives a file: URL that names the file (the escapes decode to the name)', () => {
    const name = 'pool/x/epoch_1%3a0.9 b_amd64.deb';
    assert.equal(fileURLToPath(lockedUrl('file:///srv/repo', name)), `/srv/repo/${name}`);
  });
});
