// What dpkg needs of a Debian image that no dependency brings: the Essential set (dpkg stops
// without sh, rm, diff, tar, ldconfig), of which the build warns when dpkg is installed without it
// (src/pkg/deb/source.ts missingEssential), and the accounts base-passwd's scripts would have
// written (/etc/passwd and /etc/group from its masters; src/pkg/deb/source.ts baseAccounts). A
// local signed repository (file://) of crafted .debs stands in for a mirror: its Packages file
// holds enough other stanzas that the search for `Essential: yes` reads it in several pieces.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createCleartextMessage, generateKey, sign } from 'openpgp';
import { readTar, type TarWriteEntry, tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { layerBytes } from '../../src/builder/layer.ts';
import { writeAr } from '../../src/pkg/deb/ar.ts';
import { DebRepositorySource } from '../../src/pkg/deb/source.ts';
import { DownloadCache } from '../../src/pkg/fetch.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('deb-essential');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const file = (name: string, body: Uint8Array): TarWriteEntry => ({ header: tarHeader({ name, size: body.length, mode: 0o644 }), body });
const dir = (name: string): TarWriteEntry => ({ header: tarHeader({ name, type: 'dir', mode: 0o755 }) });

const PASSWD_MASTER = 'root:*:0:0:root:/root:/bin/bash\ndaemon:*:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n';
const GROUP_MASTER = 'root:*:0:\ndaemon:*:1:\n';

interface Crafted {
  name: string;
  /** Extra control fields, `Field: value` lines. */
  fields?: string;
  /** Files under the root, by path without the leading slash. */
  files?: Record<string, string>;
}

/** A .deb of `p`, version 1.0-1, amd64. */
async function craftDeb(p: Crafted): Promise<Uint8Array> {
  const control = `Package: ${p.name}\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: A <a@example.org>\n${p.fields ?? ''}Description: crafted\n`;
  const controlTar = await tarBytes([dir('./'), file('./control', enc(control))]);
  const entries: TarWriteEntry[] = [dir('./')];
  const dirs = new Set<string>();
  for (const [path, body] of Object.entries(p.files ?? {})) {
    const parts = path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const d = `./${parts.slice(0, i).join('/')}/`;
      if (!dirs.has(d)) entries.push(dir(d));
      dirs.add(d);
    }
    entries.push(file(`./${path}`, enc(body)));
  }
  return writeAr([
    { name: 'debian-binary', data: enc('2.0\n') },
    { name: 'control.tar.gz', data: gzipSync(controlTar) },
    { name: 'data.tar.gz', data: gzipSync(await tarBytes(entries)) },
  ]);
}

/**
 * A signed repository at `d`/repo, suite `stable`, amd64: the crafted packages, between `filler`
 * other stanzas (without .debs: nothing asks for them), and one Essential package at the end,
 * `late-essential`, after more than 4 MiB of them.
 */
async function repository(d: string, packages: readonly Crafted[]): Promise<string> {
  const repo = join(d, 'repo');
  const k = await generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'archive' }], format: 'object' });
  await writeFile(join(d, 'archive.gpg'), k.publicKey.write());
  await mkdir(join(repo, 'pool'), { recursive: true });
  const stanzas: string[] = [];
  for (const p of [...packages, { name: 'late-essential', fields: 'Essential: yes\n' }]) {
    const deb = await craftDeb(p);
    const filename = `pool/${p.name}_1.0-1_amd64.deb`;
    await writeFile(join(repo, filename), deb);
    stanzas.push(
      `Package: ${p.name}\nVersion: 1.0-1\nArchitecture: amd64\n${p.fields ?? ''}Filename: ${filename}\nSize: ${deb.length}\nSHA256: ${sha256(deb)}\n`,
    );
  }
  const late = stanzas.pop() as string;
  const filler = Array.from(
    { length: 30_000 },
    (_, i) =>
      `Package: filler${i}\nVersion: 1.0-1\nArchitecture: amd64\nFilename: pool/filler${i}_1.0-1_amd64.deb\nSize: 1\nSHA256: ${'0'.repeat(64)}\n`,
  );
  // An Essential package of another architecture is not the image's.
  const other = `Package: other-arch\nVersion: 1.0-1\nArchitecture: arm64\nEssential: yes\nFilename: pool/o.deb\nSize: 1\nSHA256: ${'0'.repeat(64)}\n`;
  const packagesFile = enc(`${[...stanzas, ...filler, other, late].join('\n')}`);
  assert.ok(packagesFile.length > 4 << 20);
  await mkdir(join(repo, 'dists', 'stable', 'main', 'binary-amd64'), { recursive: true });
  await writeFile(join(repo, 'dists', 'stable', 'main', 'binary-amd64', 'Packages'), packagesFile);
  const release = `Origin: Test\nSuite: stable\nCodename: stable\nDate: ${new Date().toUTCString()}\nArchitectures: amd64\nComponents: main\nSHA256:\n ${sha256(packagesFile)} ${packagesFile.length} main/binary-amd64/Packages\n`;
  const signed = await sign({ message: await createCleartextMessage({ text: release }), signingKeys: [k.privateKey] });
  await writeFile(join(repo, 'dists', 'stable', 'InRelease'), signed);
  return `deb [signed-by=./archive.gpg] file://${repo} stable main`;
}

const CRAFTED: Crafted[] = [
  { name: 'dpkg', fields: 'Depends: tar\n' },
  { name: 'tar', fields: 'Essential: yes\n' },
  { name: 'dash', fields: 'Essential: yes\n' },
  { name: 'coreutils', fields: 'Essential: yes\n' },
  {
    name: 'base-passwd',
    fields: 'Essential: yes\n',
    files: { 'usr/share/base-passwd/passwd.master': PASSWD_MASTER, 'usr/share/base-passwd/group.master': GROUP_MASTER },
  },
  { name: 'hello' },
  // Depends on dpkg, as Debian's dash does: dpkg comes in without being asked for.
  { name: 'shellish', fields: 'Depends: dpkg\n' },
];

/** A configuration over the repository `line` asking for `packages` (and `extra` YAML), with a warning collector. */
async function build(
  d: string,
  line: string,
  packages: readonly string[],
  extra = '',
  lock?: { lock: unknown; vouched: boolean },
  spill = true,
) {
  const path = join(d, `image-${packages.join('-')}.yaml`);
  await writeFile(path, `contents:\n  repositories:\n    - ${line}\n  packages: [${packages.join(', ')}]\narchs: [x86_64]\n${extra}`);
  const warnings: string[] = [];
  const result = await buildImage({
    config: await loadConfig(path, { hostArch: 'x86_64' }),
    configPath: path,
    cacheDir: join(d, 'cache'),
    memo: false,
    spill,
    logger: { debug() {}, info() {}, warn: (m: string) => warnings.push(m) },
    ...(lock === undefined ? {} : { lock: lock.lock as never, lockVouches: lock.vouched }),
  });
  return { path, result, warnings };
}

/** The image's files and their text, from its one layer. */
async function imageFiles(result: Awaited<ReturnType<typeof buildImage>>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const layer of result.images[0]?.layers ?? []) {
    for await (const e of readTar([gunzipSync(await layerBytes(layer))])) {
      const parts: Uint8Array[] = [];
      for await (const c of e.body) parts.push(c);
      out.set(e.header.name.replace(/^\.?\//, '').replace(/\/$/, ''), Buffer.concat(parts).toString('utf8'));
    }
  }
  return out;
}

describe("dpkg's Essential set", () => {
  it('the source finds the Essential packages of the index read (in every piece of it) that an image with dpkg lacks', async () => {
    const d = await tempDir();
    const line = await repository(d, CRAFTED);
    const source = new DebRepositorySource({
      repositories: [line],
      keyring: [],
      packages: [],
      configPath: join(d, 'image.yaml'),
      baseDir: d,
      cache: new DownloadCache(join(d, 'cache')),
      logger: { debug() {}, info() {}, warn() {} },
    });
    // No index read: the names alone do not say which are Essential.
    assert.equal(source.missingEssential('x86_64', ['dpkg', 'tar']), undefined);
    await source.readIndex('x86_64');
    assert.deepEqual(source.missingEssential('x86_64', ['dpkg', 'tar']), ['base-passwd', 'coreutils', 'dash', 'late-essential']);
    assert.deepEqual(source.missingEssential('x86_64', ['dpkg', 'tar', 'dash', 'coreutils', 'base-passwd', 'late-essential']), []);
    // Without dpkg, nothing is missing for it.
    assert.equal(source.missingEssential('x86_64', ['hello']), undefined);
  });

  it('a build with dpkg and without them warns once, naming the configuration and what to add; with them, or without dpkg, it does not', async () => {
    const d = await tempDir();
    const line = await repository(d, CRAFTED);
    const lacking = await build(d, line, ['dpkg', 'hello']);
    const said = lacking.warnings.filter((w) => /Essential/.test(w));
    assert.equal(said.length, 1, lacking.warnings.join('\n'));
    assert.equal(
      said[0],
      `${lacking.path}: the image has dpkg but not the Essential packages base-passwd, coreutils, dash, late-essential, which nothing depends on: dpkg -i and dpkg --configure in the image stop without their programs ("expected programs not found in PATH": sh, rm, diff, tar, ldconfig), and maintainer scripts expect the rest; add them to contents.packages if the image is to run dpkg (debootstrap and mmdebstrap install them)`,
    );
    const whole = await build(d, line, ['dpkg', 'dash', 'coreutils', 'base-passwd', 'late-essential']);
    assert.deepEqual(
      whole.warnings.filter((w) => /Essential/.test(w)),
      [],
    );
    const noDpkg = await build(d, line, ['hello']);
    assert.deepEqual(
      noDpkg.warnings.filter((w) => /Essential/.test(w)),
      [],
    );
    // dpkg brought in by a dependency (a shell image: dash depends on dpkg) is not asked for to run: no warning.
    const brought = await build(d, line, ['shellish']);
    assert.ok(brought.result.images[0]?.packages.some((p) => p.name === 'dpkg'));
    assert.deepEqual(
      brought.warnings.filter((w) => /Essential/.test(w)),
      [],
    );
    // A build from a lock checks it against the indexes it reads, and tells as well.
    const locked = await build(d, line, ['dpkg', 'hello'], '', { lock: lacking.result.lock, vouched: false });
    assert.deepEqual(
      locked.warnings.filter((w) => /Essential/.test(w)),
      said,
    );
    // One from a lock it does not check (a rebuild from provenance) reads no index, and the lock's
    // entries do not say which packages are Essential: it says nothing.
    const rebuilt = await build(d, line, ['dpkg', 'hello'], '', { lock: lacking.result.lock, vouched: true });
    assert.deepEqual(
      rebuilt.warnings.filter((w) => /Essential/.test(w)),
      [],
    );
  });
});

describe("base-passwd's accounts", () => {
  it('/etc/passwd and /etc/group are its masters, as its scripts copy them on a first install, and the configuration adds its accounts to them', async () => {
    const d = await tempDir();
    const line = await repository(d, CRAFTED);
    const plain = await imageFiles((await build(d, line, ['base-passwd'])).result);
    assert.equal(plain.get('etc/passwd'), PASSWD_MASTER);
    assert.equal(plain.get('etc/group'), GROUP_MASTER);
    // update-passwd writes no shadow, and neither does a first install.
    assert.equal(plain.has('etc/shadow'), false);
    const accounts =
      'accounts:\n  groups: [{groupname: app, gid: 900}]\n  users: [{username: app, uid: 900, gid: 900, homedir: /dev/null, shell: /usr/sbin/nologin}]\n';
    const withAccounts = await imageFiles((await build(d, line, ['base-passwd', 'hello'], accounts)).result);
    assert.equal(withAccounts.get('etc/passwd'), `${PASSWD_MASTER}app:x:900:900:app:/dev/null:/usr/sbin/nologin\n`);
    assert.equal(withAccounts.get('etc/group'), `${GROUP_MASTER}app:x:900:\n`);
    // The same with every file in the tree, not kept out of it as it is installed (src/vfs/spill.ts).
    const inTree = await imageFiles((await build(d, line, ['base-passwd', 'hello'], accounts, undefined, false)).result);
    assert.equal(inTree.get('etc/passwd'), withAccounts.get('etc/passwd'));
    assert.equal(inTree.get('etc/group'), withAccounts.get('etc/group'));
  });

  it('an image without base-passwd keeps the empty files the accounts step makes', async () => {
    const d = await tempDir();
    const line = await repository(d, CRAFTED);
    const files = await imageFiles((await build(d, line, ['hello'])).result);
    assert.equal(files.get('etc/passwd'), '');
    assert.equal(files.get('etc/group'), '');
  });
});
