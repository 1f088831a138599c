// Installing .debs into the in-memory tree: real packages from the machine's apt sources, the
// dpkg database as distroless writes it, dpkg's file-conflict rules on crafted packages, and the
// files that ca-certificates' and tzdata's maintainer scripts would have made.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { crc32, gunzipSync, gzipSync } from 'node:zlib';
import { type TarWriteEntry, tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { layerBytes, treeLayer } from '../../../src/builder/layer.ts';
import { isProvenantError } from '../../../src/errors.ts';
import { writeAr } from '../../../src/pkg/deb/ar.ts';
import { parseControlStanzas } from '../../../src/pkg/deb/control.ts';
import { type DebPackage, readDeb } from '../../../src/pkg/deb/deb.ts';
import { dpkgConffiles } from '../../../src/pkg/deb/dpkg-database.ts';
import {
  CA_BUNDLE_MAX,
  CA_CERTIFICATE_FILE_MAX,
  CA_CONF_MAX,
  caBundle,
  type DebInstallOptions,
  dpkgStatusFiles,
  installDeb,
  setTimezone,
  writeDebDatabase,
} from '../../../src/pkg/deb/install.ts';
import { DebRepositorySource } from '../../../src/pkg/deb/source.ts';
import { DownloadCache } from '../../../src/pkg/fetch.ts';
import { encodeEntries, keptEntries } from '../../../src/pkg/unpacked-index.ts';
import { type Body, readBody } from '../../../src/vfs/body.ts';
import { SpilledFiles, SpillRefused } from '../../../src/vfs/spill.ts';
import { Tree } from '../../../src/vfs/tree.ts';
import { realDebs as realDebsOf } from '../../helpers/debian.ts';

const code = (c: string) => (err: unknown) => isProvenantError(err) && err.code === c;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Body | undefined): string => new TextDecoder().decode(readBody(b));

// Real packages, fetched once with `apt-get download` into a folder under the OS temp dir.
const REAL = ['base-files', 'netbase', 'tzdata', 'ca-certificates', 'libc6'];
const { debs: realDebs, missing: noRealDebs } = realDebsOf(REAL);
const haveDpkgDeb = spawnSync('dpkg-deb', ['--version'], { stdio: 'ignore' }).status === 0;
const haveOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

const readReal = async (name: string): Promise<DebPackage> => readDeb(readFileSync(realDebs.get(name)!), { where: name });

/** A tree with every real package installed, built once. */
let installedTree: Promise<{ tree: Tree; installed: ReturnType<typeof installDeb>[] }> | undefined;
function realTree(): Promise<{ tree: Tree; installed: ReturnType<typeof installDeb>[] }> {
  installedTree ??= (async () => {
    const tree = new Tree();
    const installed = [];
    for (const name of REAL) installed.push(installDeb(tree, await readReal(name), { mtime: 1_700_000_000 }));
    writeDebDatabase(tree);
    return { tree, installed };
  })();
  return installedTree;
}

// Crafted packages for the rules real packages cannot show.
const file = (name: string, body: string, over: Partial<Parameters<typeof tarHeader>[0]> = {}): TarWriteEntry => ({
  header: tarHeader({ name, size: enc(body).length, ...over }),
  body: enc(body),
});
const dir = (name: string): TarWriteEntry => ({ header: tarHeader({ name, type: 'dir', mode: 0o755 }) });
async function crafted(name: string, files: TarWriteEntry[], extraControl = '', members: CraftedMembers = {}): Promise<DebPackage> {
  return readDeb(await craftedBytes(name, files, extraControl, members), { where: name });
}
/** The control members of a crafted package besides `control`: md5sums (made unless `false`), conffiles, others as given; and its architecture (amd64). */
interface CraftedMembers {
  conffiles?: string;
  md5sums?: false;
  others?: TarWriteEntry[];
  arch?: string;
}
/** A crafted package's .deb. */
async function craftedBytes(name: string, files: TarWriteEntry[], extraControl = '', members: CraftedMembers = {}): Promise<Uint8Array> {
  const control = `Package: ${name}\nVersion: 1.0\nArchitecture: ${members.arch ?? 'amd64'}\n${extraControl}Description: test\n`;
  const md5sums = files
    .filter((f) => f.header.type === 'file')
    .map(
      (f) =>
        `${createHash('md5')
          .update(f.body as Uint8Array)
          .digest('hex')}  ${f.header.name.replace(/^\.\//, '')}\n`,
    )
    .join('');
  return writeAr([
    { name: 'debian-binary', data: enc('2.0\n') },
    {
      name: 'control.tar.gz',
      data: gzipSync(
        await tarBytes([
          file('./control', control),
          ...(members.md5sums === false ? [] : [file('./md5sums', md5sums)]),
          ...(members.conffiles === undefined ? [] : [file('./conffiles', members.conffiles)]),
          ...(members.others ?? []),
        ]),
      ),
    },
    { name: 'data.tar.gz', data: gzipSync(await tarBytes([dir('./'), ...files])) },
  ]);
}

/** `pkg` with its files' bodies written to files under `dir`, as a package kept in the cache has them. */
function onDisk(pkg: DebPackage, dir: string): DebPackage {
  return {
    ...pkg,
    entries: [...pkg.entries].map((e) => {
      if (e.header.type !== 'file') return e;
      const bytes = readBody(e.body);
      const path = join(dir, `${pkg.name}-${e.path.replaceAll('/', '_')}`);
      writeFileSync(path, bytes);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      return { ...e, body: { path, offset: 0, size: bytes.length, sha256, crc32: crc32(bytes) } };
    }),
  };
}

/** A Debian source with no repository: installs what it is given, resolves nothing. */
function sourceWithoutIndexes(): DebRepositorySource {
  return new DebRepositorySource({
    repositories: [],
    keyring: [],
    packages: [],
    configPath: 'image.yaml',
    baseDir: '.',
    cache: undefined,
    logger: { debug() {}, info() {}, warn() {} },
  });
}

describe('installDeb with real packages', { skip: noRealDebs }, () => {
  it('installs base-files, netbase, tzdata, ca-certificates and libc6 into one tree, running no script', async () => {
    const { tree, installed } = await realTree();
    const byName = new Map(installed.map((i) => [i.pkg.name, i]));
    assert.equal(dec(tree.get('etc/debian_version')?.body).trim().length > 0, true);
    assert.equal(tree.get('etc/services')?.owner, 'netbase');
    assert.equal(tree.get('usr/share/zoneinfo/Europe/Paris')?.type, 'file');
    assert.ok(tree.under('usr/share/ca-certificates/mozilla').length > 100);
    // The dynamic loader's symlink resolves, inside the tree, to the loader libc6 installed.
    const loader = tree.resolve('lib64/ld-linux-x86-64.so.2');
    assert.deepEqual([tree.get(loader)?.type, tree.get(loader)?.owner], ['file', 'libc6']);
    // Times became SOURCE_DATE_EPOCH; the md5 of every file is the one md5sums gave.
    assert.equal(tree.get('etc/services')?.mtime, 1_700_000_000);
    for (const i of installed) {
      for (const f of i.files) if (f.type === 'file') assert.equal(f.md5, i.pkg.md5sums.get(f.path), f.path);
    }
    // The scripts each package carried, none run.
    assert.deepEqual(byName.get('base-files')?.skippedScripts, ['postinst']);
    assert.deepEqual(byName.get('ca-certificates')?.skippedScripts, ['config', 'postinst', 'triggers', 'postrm']);
    assert.deepEqual(byName.get('libc6')?.skippedScripts, ['preinst', 'postinst', 'triggers', 'postrm']);
    assert.equal(tree.get('etc/ssl/certs/ca-certificates.crt'), undefined, 'no script ran');
    assert.equal(tree.get('etc/localtime'), undefined, 'no script ran');
  });

  it('writes status.d/<package> and <package>.md5sums for every package, as distroless does', async () => {
    const { tree, installed } = await realTree();
    const names = tree
      .under('var/lib/dpkg/status.d')
      .map((p) => p.slice('var/lib/dpkg/status.d/'.length))
      .sort();
    assert.deepEqual(names, REAL.flatMap((n) => [n, `${n}.md5sums`]).sort());
    for (const i of installed) {
      assert.deepEqual(i.database, [`var/lib/dpkg/status.d/${i.pkg.name}`, `var/lib/dpkg/status.d/${i.pkg.name}.md5sums`]);
      assert.deepEqual(tree.get(`var/lib/dpkg/status.d/${i.pkg.name}.md5sums`)?.body, i.pkg.md5sumsBytes);
      const node = tree.get(`var/lib/dpkg/status.d/${i.pkg.name}`);
      assert.deepEqual([node?.mode, node?.uid, node?.gid, node?.owner], [0o644, 0, 0, 'build']);
    }
    // Nothing of dpkg's own layout, which distroless leaves out.
    assert.equal(tree.get('var/lib/dpkg/status'), undefined);
    assert.equal(tree.get('var/lib/dpkg/info'), undefined);
  });

  it("gives base-files' status.d file the control stanza's fields, with Status after Package", async () => {
    const { tree } = await realTree();
    const pkg = await readReal('base-files');
    const text = dec(tree.get('var/lib/dpkg/status.d/base-files')?.body);
    const lines = text.split('\n');
    assert.equal(lines[0], 'Package: base-files');
    assert.equal(lines[1], 'Status: install ok installed');
    const [stanza, ...rest] = parseControlStanzas(text, 'status.d/base-files');
    assert.equal(rest.length, 0);
    const fieldNames = Object.keys(stanza!);
    assert.deepEqual(fieldNames, ['package', 'status', ...Object.keys(pkg.control).filter((k) => k !== 'package')]);
    for (const f of ['version', 'architecture', 'maintainer', 'installed-size', 'description', 'essential', 'priority', 'section']) {
      assert.ok(fieldNames.includes(f), f);
    }
    // Without the Status line it is byte for byte what distroless writes: `dpkg-deb --field`.
    const plain = dpkgStatusFiles(pkg, { statusLine: false })[0]!;
    assert.deepEqual(plain.body, pkg.controlBytes);
    assert.equal(text.replace('Status: install ok installed\n', ''), dec(pkg.controlBytes));
  });

  it('matches dpkg-deb --field for every package', { skip: !haveDpkgDeb && 'dpkg-deb is not installed' }, async () => {
    for (const [name, path] of realDebs) {
      const [control] = dpkgStatusFiles(await readReal(name), { statusLine: false });
      assert.equal(dec(control?.body), execFileSync('dpkg-deb', ['--field', path!], { encoding: 'utf8' }), name);
    }
  });

  it('names a Multi-Arch: same package <package>:<arch> only when asked', async () => {
    const libc = await readReal('libc6');
    assert.equal(libc.multiArch, 'same');
    const paths = (o: DebInstallOptions) => dpkgStatusFiles(libc, o).map((f) => f.path);
    assert.deepEqual(paths({}), ['var/lib/dpkg/status.d/libc6', 'var/lib/dpkg/status.d/libc6.md5sums']);
    assert.deepEqual(paths({ multiArchNames: true }), [
      `var/lib/dpkg/status.d/libc6:${libc.architecture}`,
      `var/lib/dpkg/status.d/libc6:${libc.architecture}.md5sums`,
    ]);
    // Multi-Arch: foreign keeps its bare name either way.
    const tz = await readReal('tzdata');
    assert.deepEqual(
      dpkgStatusFiles(tz, { multiArchNames: true }).map((f) => f.path),
      ['var/lib/dpkg/status.d/tzdata', 'var/lib/dpkg/status.d/tzdata.md5sums'],
    );
    const tree = new Tree();
    const one = installDeb(tree, libc, { multiArchNames: true, database: true });
    writeDebDatabase(tree);
    assert.equal(one.statusName, `libc6:${libc.architecture}`);
    assert.ok(tree.get(`var/lib/dpkg/status.d/libc6:${libc.architecture}`));
  });

  it('writes no database when told not to', async () => {
    const tree = new Tree();
    const r = installDeb(tree, await readReal('netbase'), { database: false });
    writeDebDatabase(tree);
    assert.deepEqual(r.database, []);
    assert.equal(tree.get('var/lib/dpkg'), undefined);
  });
});

describe('the licenses of installed packages', () => {
  const dep5 = (license: string) =>
    `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: 2020 Someone\nLicense: ${license}\n`;
  const docs = [dir('./usr/'), dir('./usr/share/'), dir('./usr/share/doc/')];
  const link = (name: string, linkname: string): TarWriteEntry => ({ header: tarHeader({ name, type: 'symlink', linkname, size: 0 }) });
  const packages = async () => [
    await crafted('gcc-base', [
      ...docs,
      dir('./usr/share/doc/gcc-base/'),
      file('./usr/share/doc/gcc-base/copyright', dep5('GPL-3+ or Expat')),
    ]),
    // Debian policy 12.5: a package's doc folder may be a link to that of a package of the same source.
    await crafted('libgcc', [...docs, link('./usr/share/doc/libgcc', 'gcc-base')]),
    await crafted('libgcc-abs', [...docs, link('./usr/share/doc/libgcc-abs', '/usr/share/doc/gcc-base')]),
    await crafted('prose', [
      ...docs,
      dir('./usr/share/doc/prose/'),
      file('./usr/share/doc/prose/copyright', 'Copyright 2020 Someone.\nGPL.\n'),
    ]),
    await crafted('nodoc', [dir('./usr/'), file('./usr/nodoc', 'x')]),
    await crafted('elsewhere', [...docs, link('./usr/share/doc/elsewhere', '../../lib/elsewhere')]),
  ];
  const source = sourceWithoutIndexes();
  const want = {
    'gcc-base': 'GPL-3.0-or-later OR MIT',
    libgcc: 'GPL-3.0-or-later OR MIT',
    'libgcc-abs': 'GPL-3.0-or-later OR MIT',
    prose: '',
    nodoc: '',
    elsewhere: '',
  };

  it('come from each machine-readable copyright file, through a linked doc folder too, in whatever order', async () => {
    const debs = await packages();
    for (const order of [debs, [...debs].reverse()]) {
      const installed = await source.install(new Tree(), order, 'x86_64', { mtime: 0, clamp: undefined });
      assert.deepEqual(Object.fromEntries(installed.map((p) => [p.name, p.license]).sort()), want);
    }
  });

  it('are read from the package when its files are kept out of the tree', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'provenant-deb-license-'));
    try {
      const spill = await SpilledFiles.open(new DownloadCache(cacheDir), []);
      try {
        const tree = new Tree();
        tree.keepOutside(spill);
        const debs = (await packages()).map((p) => onDisk(p, cacheDir));
        const installed = await source.install(tree, debs, 'x86_64', { mtime: 0, clamp: undefined }, spill);
        assert.equal(tree.get('usr/share/doc/gcc-base/copyright'), undefined, 'the copyright file is kept out of the tree');
        assert.deepEqual(Object.fromEntries(installed.map((p) => [p.name, p.license]).sort()), want);
      } finally {
        await spill.close();
      }
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('of real packages: those whose copyright file is machine-readable, and none for the rest', { skip: noRealDebs }, async () => {
    const { installed } = await realTree();
    assert.deepEqual(Object.fromEntries(installed.map((i) => [i.pkg.name, i.copyrightLicense])), {
      'base-files': '',
      netbase: 'GPL-2.0-only',
      tzdata: 'LicenseRef-public-domain',
      'ca-certificates': 'GPL-2.0-or-later AND MPL-2.0',
      libc6: '',
    });
  });
});

describe('caBundle', { skip: noRealDebs }, () => {
  it('bundles every certificate of ca-certificates in sorted order, as a fresh install does', async () => {
    const { tree } = await realTree();
    const result = caBundle(tree, { mtime: 1_700_000_000 });
    assert.equal(result.path, 'etc/ssl/certs/ca-certificates.crt');
    assert.ok(result.certificates > 100, `${result.certificates} certificates`);
    assert.equal(result.certificates, result.sources.length);
    assert.deepEqual(result.missing, []);
    const sorted = [...result.sources].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual(result.sources, sorted);
    const node = tree.get('etc/ssl/certs/ca-certificates.crt');
    assert.deepEqual([node?.type, node?.mode, node?.mtime], ['file', 0o644, 1_700_000_000]);
    // The concatenation of the files, each ending in a newline.
    const expected = result.sources.map((p) => dec(tree.get(p)?.body).replace(/([^\n])$/, '$1\n')).join('');
    assert.equal(dec(node?.body), expected);
  });

  it('gives a bundle that OpenSSL reads as PEM certificates', {
    skip: (!haveOpenssl && 'openssl is not installed') || noRealDebs,
  }, async () => {
    const { tree } = await realTree();
    const { certificates } = caBundle(tree);
    const tmp = mkdtempSync(join(tmpdir(), 'provenant-cabundle-'));
    try {
      const bundle = join(tmp, 'ca-certificates.crt');
      writeFileSync(bundle, readBody(tree.get('etc/ssl/certs/ca-certificates.crt')!.body));
      const run = spawnSync('sh', ['-c', 'openssl crl2pkcs7 -nocrl -certfile "$1" | openssl pkcs7 -print_certs -noout', 'sh', bundle], {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout.match(/^subject=/gm)?.length, certificates);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('follows /etc/ca-certificates.conf: its order, ! and # lines skipped, missing files reported, local certificates last', async () => {
    const pkg = await readReal('ca-certificates');
    const tree = new Tree();
    installDeb(tree, pkg);
    const certs = tree.under('usr/share/ca-certificates/mozilla').map((p) => p.slice('usr/share/ca-certificates/'.length));
    const [a, b, c] = [certs[5]!, certs[1]!, certs[9]!];
    const put = (path: string, body: string): void => {
      tree.put(path, { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, body: enc(body) });
    };
    put('etc/ca-certificates.conf', `# comment\n${a}\n!${c}\n\n  ${b}  \nmozilla/Gone.crt\n`);
    put('usr/local/share/ca-certificates/z.crt', '-----BEGIN CERTIFICATE-----\nZZZ\n-----END CERTIFICATE-----');
    put('usr/local/share/ca-certificates/sub/a.crt', '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n');
    put('usr/local/share/ca-certificates/readme.txt', 'not a certificate');
    const result = caBundle(tree);
    assert.deepEqual(result.sources, [
      `usr/share/ca-certificates/${a}`,
      `usr/share/ca-certificates/${b}`,
      'usr/local/share/ca-certificates/sub/a.crt',
      'usr/local/share/ca-certificates/z.crt',
    ]);
    assert.deepEqual(result.missing, ['usr/share/ca-certificates/mozilla/Gone.crt']);
    assert.equal(result.certificates, 4);
    // A missing final newline is added, as `sed '$a\'` does.
    assert.ok(dec(tree.get('etc/ssl/certs/ca-certificates.crt')?.body).endsWith('ZZZ\n-----END CERTIFICATE-----\n'));
  });

  it('refuses a tree without ca-certificates', () => {
    assert.throws(() => caBundle(new Tree()), code('NOT_FOUND'));
  });
});

// A package may ship a certificate file, or /etc/ca-certificates.conf, of gigabytes, or certificate
// files by the thousand: each was read whole into the bundle, which was held whole.
describe('caBundle of files too large', () => {
  const PEM = enc('-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n');
  const tree = (files: Record<string, { owner: string; body: Body; link?: string }>): Tree => {
    const t = new Tree();
    for (const dir of ['usr/share/ca-certificates/mozilla', 'usr/local/share/ca-certificates', 'etc'])
      t.mkdirAll(dir, { mode: 0o755, uid: 0, gid: 0, mtime: 0 });
    t.put('usr/share/ca-certificates/mozilla/A.crt', {
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 0,
      body: PEM,
      owner: 'ca-certificates',
    });
    for (const [path, { owner, body, link }] of Object.entries(files)) {
      if (link === undefined) t.put(path, { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, body, owner });
      else t.put(path, { type: 'hardlink', mode: 0o644, uid: 0, gid: 0, mtime: 0, linkname: link, owner });
    }
    return t;
  };
  const tooLarge = (where: string, message: RegExp) => (err: unknown) => {
    assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
    assert.equal(err.where, where);
    assert.match(err.message, message);
    return true;
  };

  it('refuses a certificate file over 4 MiB, through a hardlink too, with TOO_LARGE naming it and its package', () => {
    assert.equal(CA_CERTIFICATE_FILE_MAX, 4 << 20);
    const big = new Uint8Array(CA_CERTIFICATE_FILE_MAX + 1);
    const local = 'usr/local/share/ca-certificates/big.crt';
    assert.throws(
      () => caBundle(tree({ [local]: { owner: 'big-certs', body: big } })),
      tooLarge(`big-certs: /${local}`, /\(installed by big-certs\) is 4194305 bytes, more than the 4194304 read of it/),
    );
    const linked = 'usr/share/ca-certificates/mozilla/B.crt';
    assert.throws(
      () => caBundle(tree({ 'usr/lib/x/big': { owner: 'x', body: big }, [linked]: { owner: 'linker', body: PEM, link: 'usr/lib/x/big' } })),
      tooLarge(`linker: /${linked}`, /is 4194305 bytes/),
    );
    // At the cap, it is read.
    const at = caBundle(tree({ [local]: { owner: 'big-certs', body: new Uint8Array(CA_CERTIFICATE_FILE_MAX) } }));
    assert.deepEqual(at.sources, ['usr/share/ca-certificates/mozilla/A.crt', local]);
  });

  // A link named the package of the file it led to (a symlink) or its own (a hardlink): each now
  // names its own path and package, and the path and package of the file it leads to.
  it('names a certificate link over 4 MiB by its path and package, and the file it leads to by its own', () => {
    const big = new Uint8Array(CA_CERTIFICATE_FILE_MAX + 1);
    const corp = 'usr/local/share/ca-certificates/corp.crt';
    const symlinked = tree({ 'etc/blob': { owner: 'bigdata', body: big } });
    symlinked.put(corp, { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: '/etc/blob', owner: 'corp-ca' });
    const named = new RegExp(
      `^/${corp} \\(installed by corp-ca\\), a link to /etc/blob \\(installed by bigdata\\), is 4194305 bytes, more than the 4194304 read of it$`,
    );
    assert.throws(() => caBundle(symlinked), tooLarge(`corp-ca: /${corp}`, named));
    const hardlinked = tree({ 'etc/blob': { owner: 'bigdata', body: big }, [corp]: { owner: 'corp-ca', body: PEM, link: 'etc/blob' } });
    assert.throws(() => caBundle(hardlinked), tooLarge(`corp-ca: /${corp}`, named));
  });

  it('refuses a bundle over 64 MiB, counted before the files are read, naming the file that passes it', () => {
    assert.equal(CA_BUNDLE_MAX, 64 << 20);
    // One body shared by every file: the test holds 4 MiB. The file that passes the most is a body
    // on disk whose file is not there: counted after it is read, the read would fail first (IO).
    const full = new Uint8Array(CA_CERTIFICATE_FILE_MAX);
    const dir = mkdtempSync(join(tmpdir(), 'provenant-ca-'));
    const unread: Body = { path: join(dir, 'never-written'), offset: 0, size: full.length, sha256: '', crc32: 0 };
    const files = Object.fromEntries(
      Array.from({ length: 16 }, (_, k) => [
        `usr/local/share/ca-certificates/${String(k).padStart(2, '0')}.crt`,
        { owner: 'many-certs', body: k === 15 ? unread : full },
      ]),
    );
    try {
      assert.throws(
        () => caBundle(tree(files)),
        tooLarge('many-certs: /usr/local/share/ca-certificates/15.crt', /ca-certificates\.crt would be more than 67108864 bytes with/),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses /etc/ca-certificates.conf over 1 MiB, naming it and its package', () => {
    assert.equal(CA_CONF_MAX, 1 << 20);
    const conf = new Uint8Array(CA_CONF_MAX + 1).fill(0x23);
    assert.throws(
      () => caBundle(tree({ 'etc/ca-certificates.conf': { owner: 'ca-certificates', body: conf } })),
      tooLarge('ca-certificates: /etc/ca-certificates.conf', /is 1048577 bytes/),
    );
  });
});

describe('setTimezone', { skip: noRealDebs }, () => {
  it('links /etc/localtime to the zone and writes /etc/timezone, as tzdata does', async () => {
    const tree = new Tree();
    installDeb(tree, await readReal('tzdata'));
    setTimezone(tree, 'Europe/Paris', { mtime: 5 });
    assert.deepEqual(
      { ...tree.get('etc/localtime') },
      { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 5, owner: 'build', linkname: '/usr/share/zoneinfo/Europe/Paris' },
    );
    assert.equal(tree.get(tree.resolve('etc/localtime'))?.type, 'file');
    assert.equal(dec(tree.get('etc/timezone')?.body), 'Europe/Paris\n');
    setTimezone(tree, 'Etc/UTC', { etcTimezone: false });
    assert.equal(tree.get('etc/localtime')?.linkname, '/usr/share/zoneinfo/Etc/UTC');
    assert.equal(dec(tree.get('etc/timezone')?.body), 'Europe/Paris\n');
    assert.throws(() => setTimezone(tree, 'Mars/Olympus_Mons'), code('NOT_FOUND'));
    for (const bad of ['../../etc/passwd', '/Europe/Paris', 'Europe//Paris', ''])
      assert.throws(() => setTimezone(tree, bad), code('USAGE'), bad);
  });
});

describe('installDeb rules', () => {
  it('refuses a file another package installed, unless Replaces names that package (at its version)', async () => {
    const a = await crafted('pkg-a', [dir('./usr/'), file('./usr/x', 'a')]);
    const b = await crafted('pkg-b', [dir('./usr/'), file('./usr/x', 'b')]);
    const tree = new Tree();
    installDeb(tree, a);
    assert.throws(
      () => installDeb(tree, b),
      (err: unknown) => code('FILE_CONFLICT')(err) && /^pkg-b and pkg-a both install \/usr\/x$/.test((err as Error).message),
    );
    const replacing = await crafted('pkg-b', [dir('./usr/'), file('./usr/x', 'b')], 'Replaces: other, pkg-a (<< 2.0)\n');
    assert.throws(() => installDeb(tree, replacing, { installedVersions: new Map([['pkg-a', '2.0']]) }), code('FILE_CONFLICT'));
    installDeb(tree, replacing, { installedVersions: new Map([['pkg-a', '1.0']]) });
    assert.equal(dec(tree.get('usr/x')?.body), 'b');
    assert.equal(tree.get('usr/x')?.owner, 'pkg-b');
    // A version the caller does not know is taken to match.
    installDeb(tree, await crafted('pkg-c', [file('./usr/x', 'c')], 'Replaces: pkg-b (<< 0.1)\n'));
  });

  it('keeps the installed file when the installed package Replaces the new one, as dpkg does: either order gives one tree', async () => {
    const replacing = await crafted('a-new', [dir('./usr/'), file('./usr/x', 'new'), file('./usr/a', 'a')], 'Replaces: b-old (<< 2.0)\n');
    const old = await crafted('b-old', [dir('./usr/'), file('./usr/x', 'old'), file('./usr/b', 'b')]);
    const state = (tree: Tree) => Object.fromEntries(tree.under('usr').map((p) => [p, `${tree.get(p)?.owner} ${dec(tree.get(p)?.body)}`]));
    // The old package first: the new one replaces its file.
    const forward = new Tree();
    installDeb(forward, old);
    installDeb(forward, replacing, { installedVersions: new Map([['b-old', '1.0']]) });
    // The new one first: the old one's file is left out, the installed one stays.
    const reverse = new Tree();
    installDeb(reverse, replacing);
    const r = installDeb(reverse, old, { installedReplaces: new Map([['a-new', 'b-old (<< 2.0)']]) });
    assert.deepEqual(state(reverse), state(forward));
    assert.deepEqual(state(reverse), { 'usr/a': 'a-new a', 'usr/b': 'b-old b', 'usr/x': 'a-new new' });
    // Listed as the old package's still, as the forward order lists it in both.
    assert.deepEqual(
      r.files.filter((f) => f.type === 'file').map((f) => f.path),
      ['usr/x', 'usr/b'],
    );
    // A version the Replaces does not cover, or no Replaces known: a conflict, naming both.
    const newer = await crafted('b-old', [dir('./usr/'), file('./usr/x', 'old')]);
    const newerControl = { ...newer, version: '2.0' };
    assert.throws(
      () => installDeb(reverse, newerControl, { installedReplaces: new Map([['a-new', 'b-old (<< 2.0)']]) }),
      code('FILE_CONFLICT'),
    );
    const tree = new Tree();
    installDeb(tree, replacing);
    assert.throws(
      () => installDeb(tree, old),
      (err: unknown) => code('FILE_CONFLICT')(err) && /^b-old and a-new both install \/usr\/x$/.test((err as Error).message),
    );
    // A hardlink of the old package to its file that stayed the new one's links to that file
    // (dpkg links to the file on disk). Installed the other way, the link keeps the old file: dpkg
    // renames the new file over the name, and the link keeps the old inode. Here the order shows.
    const hardlink = { header: tarHeader({ name: './usr/y', type: 'hardlink', linkname: './usr/x' }) };
    const linking = await crafted('b-old', [dir('./usr/'), file('./usr/x', 'old'), hardlink]);
    const links = (t: Tree) => ({
      x: `${t.get('usr/x')?.owner} ${dec(t.get('usr/x')?.body)}`,
      y: `${t.get('usr/y')?.type} ${t.get('usr/y')?.owner} ${t.get('usr/y')?.linkname ?? dec(t.get('usr/y')?.body)}`,
    });
    const linkedForward = new Tree();
    installDeb(linkedForward, linking);
    installDeb(linkedForward, replacing, { installedVersions: new Map([['b-old', '1.0']]) });
    const linkedReverse = new Tree();
    installDeb(linkedReverse, replacing);
    installDeb(linkedReverse, linking, { installedReplaces: new Map([['a-new', 'b-old (<< 2.0)']]) });
    assert.deepEqual(links(linkedReverse), { x: 'a-new new', y: 'hardlink b-old usr/x' });
    assert.deepEqual(links(linkedForward), { x: 'a-new new', y: 'file b-old old' });
  });

  it('installs a package and one that Replaces it in either order through DebRepositorySource; with files kept out of the tree, falls back to the tree', async () => {
    const replacing = await crafted('a-new', [dir('./usr/'), file('./usr/x', 'new')], 'Replaces: b-old\n');
    const old = await crafted('b-old', [dir('./usr/'), file('./usr/x', 'old')]);
    const source = sourceWithoutIndexes();
    for (const order of [
      [old, replacing],
      [replacing, old],
    ]) {
      const tree = new Tree();
      const installed = await source.install(tree, order, 'x86_64', { mtime: 0, clamp: undefined });
      assert.equal(dec(tree.get('usr/x')?.body), 'new');
      assert.equal(tree.get('usr/x')?.owner, 'a-new');
      assert.deepEqual(installed.map((p) => p.name).sort(), ['a-new', 'b-old']);
    }
    // Files kept out of the tree: the second package's /usr/x is refused there (a path given
    // twice), and the build installs again into a tree alone, which settles it as above.
    const cacheDir = mkdtempSync(join(tmpdir(), 'provenant-deb-spill-'));
    try {
      for (const order of [
        [old, replacing],
        [replacing, old],
      ]) {
        const spill = await SpilledFiles.open(new DownloadCache(cacheDir), []);
        try {
          const tree = new Tree();
          tree.keepOutside(spill);
          await assert.rejects(
            source.install(
              tree,
              order.map((p) => onDisk(p, cacheDir)),
              'x86_64',
              { mtime: 0, clamp: undefined },
              spill,
            ),
            (err: unknown) => err instanceof SpillRefused && /\/usr\/x is given twice/.test(err.why),
          );
        } finally {
          await spill.close();
        }
      }
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('merges folders, and keeps a symlink to a folder where a package has the folder', async () => {
    const tree = new Tree();
    tree.put('usr/lib', { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, owner: 'build' });
    tree.put('lib', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: 'usr/lib', owner: 'build' });
    installDeb(tree, await crafted('one', [dir('./lib/'), file('./lib/one.so', '1')]));
    installDeb(
      tree,
      await crafted('two', [
        dir('./lib/'),
        file('./lib/two.so', '2'),
        { header: tarHeader({ name: './lib/link', type: 'symlink', linkname: 'two.so' }) },
      ]),
    );
    assert.equal(tree.get('lib')?.type, 'symlink');
    assert.deepEqual(tree.under('usr/lib'), ['usr/lib/link', 'usr/lib/one.so', 'usr/lib/two.so']);
    assert.equal(tree.get('usr/lib/link')?.linkname, 'two.so');
    // A folder where another package has a file is a conflict too.
    const three = await crafted('three', [dir('./lib/one.so/')]);
    assert.throws(() => installDeb(tree, three), code('FILE_CONFLICT'));
  });

  it('keeps a folder where a later package has a symlink, as dpkg does, with files in the tree or kept out of it', async () => {
    const folder = await crafted('c-dir', [
      dir('./usr/'),
      dir('./usr/share/'),
      dir('./usr/share/y/'),
      file('./usr/share/y/f', 'f'),
      dir('./usr/share/e/'),
    ]);
    const links = await crafted('d-link', [
      dir('./usr/'),
      dir('./usr/share/'),
      { header: tarHeader({ name: './usr/share/y', type: 'symlink', linkname: 'elsewhere' }) },
      { header: tarHeader({ name: './usr/share/e', type: 'symlink', linkname: 'elsewhere' }) },
    ]);
    const tree = new Tree();
    installDeb(tree, folder);
    const r = installDeb(tree, links);
    for (const p of ['usr/share/y', 'usr/share/e']) assert.equal(tree.get(p)?.type, 'dir', p);
    assert.equal(dec(tree.get('usr/share/y/f')?.body), 'f');
    assert.deepEqual(
      r.files.filter((f) => f.type === 'symlink').map((f) => f.path),
      ['usr/share/y', 'usr/share/e'],
    );
    // Files kept out of the tree: nothing to refuse there, the same folders.
    const cacheDir = mkdtempSync(join(tmpdir(), 'provenant-deb-spill-'));
    try {
      const spill = await SpilledFiles.open(new DownloadCache(cacheDir), []);
      try {
        const kept = new Tree();
        kept.keepOutside(spill);
        installDeb(kept, onDisk(folder, cacheDir), { spill });
        await spill.endRun('c-dir');
        installDeb(kept, links, { spill });
        await spill.endRun('d-link');
        for (const p of ['usr/share/y', 'usr/share/e']) assert.equal(kept.get(p)?.type, 'dir', p);
      } finally {
        await spill.close();
      }
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it("names the package and its entry in an error of the tree's", async () => {
    const tree = new Tree();
    installDeb(tree, await crafted('c-dir', [dir('./usr/'), dir('./usr/y/'), file('./usr/y/f', 'f'), file('./usr/z', 'z')]));
    const named = (path: string) => (err: unknown) => {
      assert.ok(isProvenantError(err, 'UNSAFE_PATH'), String(err));
      assert.equal(err.where, 'e-file_1.0_amd64');
      assert.match(err.message, new RegExp(`^e-file_1\\.0_amd64: cannot install ${path}: `));
      return true;
    };
    // A file over a folder that is not empty (which the package replaces: else a conflict), and a path through a file.
    const over = await crafted('e-file', [file('./usr/y', 'e')], 'Replaces: c-dir\n');
    assert.throws(() => installDeb(tree, over), named('/usr/y'));
    const through = await crafted('e-file', [file('./usr/z/w', 'e')]);
    assert.throws(() => installDeb(tree, through), named('/usr/z/w'));
  });

  it("says an error reading a kept package's next entries as the package's, not as the entry installed before it", async () => {
    const link = (name: string): TarWriteEntry => ({ header: tarHeader({ name, type: 'symlink', linkname: 'x' }) });
    const pkg = await crafted('kd', [dir('./etc/'), link('./etc/a'), link('./etc/b'), link('./etc/c')]);
    // The entries as the cache keeps them, a window an entry, the third window changed on disk since.
    const entries = [...pkg.entries];
    const records = encodeEntries(entries, []);
    const at = mkdtempSync(join(tmpdir(), 'provenant-kept-deb-'));
    try {
      const index = join(at, 'index');
      writeFileSync(index, records);
      pkg.entries = keptEntries(records, '/data', 0, { path: index, offset: 0, window: 1 })! as unknown as typeof pkg.entries;
      const third = encodeEntries(entries.slice(0, 2), []).length;
      writeFileSync(index, Buffer.from(records).fill(0xff, third + 2, third + 3));
      assert.throws(
        () => installDeb(new Tree(), pkg),
        (err: unknown) =>
          isProvenantError(err, 'DIGEST_MISMATCH') &&
          err.message === `kd_1.0_amd64: the entries at byte ${third} of ${index} are not the ones stored there`,
      );
    } finally {
      rmSync(at, { recursive: true, force: true });
    }
  });

  it('refuses what overlayfs reads as its own (an opaque folder, a 0/0 device), naming the package and entry; keeps other attributes', async () => {
    // Once layered, a folder marked opaque hides base-files' /etc/passwd, and a character device
    // 0/0 deletes the file of its name, while status.d and the SBOM still list them.
    const tree = new Tree();
    installDeb(tree, await crafted('base-files', [dir('./etc/'), file('./etc/passwd', 'root:x:0:0::/root:/bin/sh\n')]));
    const opaque = (attr: string): TarWriteEntry => ({
      header: tarHeader({ name: './etc/', type: 'dir', mode: 0o755, pax: { [`SCHILY.xattr.${attr}`]: 'y' } }),
    });
    const cases: [TarWriteEntry, string, RegExp][] = [
      [opaque('trusted.overlay.opaque'), './etc/', /extended attribute "trusted\.overlay\.opaque"/],
      [opaque('user.overlay.opaque'), './etc/', /"user\.overlay\.opaque"/],
      [opaque('user.containers.override_stat'), './etc/', /"user\.containers\.override_stat"/],
      [file('./etc/motd', 'x', { pax: { 'SCHILY.xattr.trusted.overlay.redirect': '/x' } }), './etc/motd', /"trusted\.overlay\.redirect"/],
      [
        { header: tarHeader({ name: './etc/passwd', type: 'char', mode: 0o644, devmajor: 0, devminor: 0 }) },
        './etc/passwd',
        /character device 0\/0/,
      ],
    ];
    for (const [entry, name, what] of cases) {
      const evil = await crafted('evil', [entry]);
      assert.throws(
        () => installDeb(tree, evil),
        (err: unknown) =>
          isProvenantError(err, 'UNSAFE_PATH') &&
          err.where === 'evil_1.0_amd64' &&
          err.message.includes(JSON.stringify(name)) &&
          what.test(err.message),
        name,
      );
    }
    assert.equal(tree.get('etc')?.xattrs, undefined);
    assert.equal(tree.get('etc/passwd')?.type, 'file');

    // An attribute of any other namespace, and a device that is not 0/0, stay.
    const cap = String.fromCharCode(1, 0, 0, 2, 0x80, ...Array(15).fill(0));
    installDeb(
      tree,
      await crafted('fine', [
        dir('./usr/'),
        file('./usr/ping', 'x', { mode: 0o755, pax: { 'SCHILY.xattr.security.capability': cap, 'SCHILY.xattr.user.a': 'b' } }),
        { header: tarHeader({ name: './usr/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }) },
      ]),
    );
    assert.deepEqual(tree.get('usr/ping')?.xattrs, { 'security.capability': cap, 'user.a': 'b' });
    assert.equal(tree.get('usr/null')?.devminor, 3);
  });

  it('installs hardlinks to files of the same package', async () => {
    const tree = new Tree();
    const pkg = await crafted('links', [
      dir('./usr/'),
      file('./usr/a', 'same'),
      { header: tarHeader({ name: './usr/b', type: 'hardlink', linkname: './usr/a' }) },
    ]);
    const r = installDeb(tree, pkg);
    assert.deepEqual(
      { ...tree.get('usr/b'), xattrs: undefined },
      { type: 'hardlink', mode: 0o644, uid: 0, gid: 0, mtime: 0, owner: 'links', linkname: 'usr/a', xattrs: undefined },
    );
    assert.deepEqual(
      r.files.map((f) => [f.path, f.type]),
      [
        ['usr', 'dir'],
        ['usr/a', 'file'],
        ['usr/b', 'hardlink'],
      ],
    );
    // A package whose hardlink target is not its own (a reader bypassed) is refused.
    const forged: DebPackage = {
      ...pkg,
      entries: [...pkg.entries].map((e) => (e.path === 'usr/b' ? { ...e, hardlinkTarget: 'etc/shadow' } : e)),
    };
    assert.throws(() => installDeb(new Tree(), forged), code('UNSAFE_PATH'));
  });

  it('keeps the old file in a hardlink to a path a replacing package gives a symlink or a file, as dpkg does', {
    skip: spawnSync('tar', ['--version'], { stdio: 'ignore' }).status !== 0 && 'GNU tar is not installed',
  }, async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'deb-hardlink-'));
    try {
      for (const z of [
        { header: tarHeader({ name: './usr/z', type: 'symlink', linkname: 'y' }) },
        file('./usr/z', 'new\n', { mode: 0o644 }),
      ]) {
        const what = z.header.type;
        // `old` ships usr/z and usr/a, one file under two names; `new` replaces it and gives usr/z anew.
        const old = await crafted('old', [
          dir('./usr/'),
          file('./usr/z', 'old\n', { mode: 0o755 }),
          { header: tarHeader({ name: './usr/a', type: 'hardlink', linkname: './usr/z' }) },
        ]);
        const replacing = await crafted('new', [dir('./usr/'), file('./usr/y', 'y\n'), z], 'Replaces: old\n');
        const tree = new Tree();
        installDeb(tree, old);
        installDeb(tree, replacing);
        const tar = join(tmp, `${what}.tar`);
        writeFileSync(tar, gunzipSync(await layerBytes(await treeLayer(tree))));
        const into = join(tmp, what);
        mkdirSync(into);
        const r = spawnSync('tar', ['-xf', tar, '-C', into], { encoding: 'utf8' });
        assert.equal(r.status, 0, `${what}: GNU tar: ${r.stderr}`);
        assert.equal(readFileSync(join(into, 'usr/a'), 'utf8'), 'old\n', what);
        assert.ok(statSync(join(into, 'usr/a')).isFile(), what);
        assert.equal(statSync(join(into, 'usr/a')).mode & 0o777, 0o755, what);
        // The old package still lists usr/a, and owns it.
        assert.equal(tree.get('usr/a')?.owner, 'old');
        // With the files kept out of the tree, the replacing usr/z is refused there (a path given
        // twice), and the build installs again into a tree alone: the image above.
        const spill = await SpilledFiles.open(new DownloadCache(tmp), []);
        try {
          const kept = new Tree();
          kept.keepOutside(spill);
          installDeb(kept, onDisk(old, tmp), { spill });
          assert.throws(
            () => installDeb(kept, onDisk(replacing, tmp), { spill }),
            (err: unknown) => err instanceof SpillRefused && /\/usr\/z is given twice/.test(err.why),
          );
        } finally {
          await spill.close();
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('writes the Status line after Package even when Package is not first, and ends the stanza with a newline', async () => {
    const pkg = await crafted('order', []);
    const control = enc('Version: 1.0\nPackage: order\nArchitecture: amd64');
    const [status] = dpkgStatusFiles({ ...pkg, controlBytes: control });
    assert.equal(dec(status?.body), 'Version: 1.0\nPackage: order\nStatus: install ok installed\nArchitecture: amd64\n');
  });
});

describe('the database of an image without dpkg and with it', () => {
  // A control file carrying the status database's own fields: dpkg refuses such a .deb, and
  // copying them gave a stanza with two Status fields, which dpkg cannot read.
  const STATUS_FIELDS = 'Status: purge ok not-installed\nConfig-Version: 0.9\nTriggers-Pending: ldconfig\n  more\n';

  it('leaves the status database fields of a control file out of status.d, every other byte as it was', async () => {
    const pkg = await crafted('carrier', [file('./usr/share/carrier', 'x\n')], `Maintainer: t <t@example.org>\n${STATUS_FIELDS}`);
    assert.match(dec(pkg.controlBytes), /^Status: purge/m);
    const tree = new Tree();
    installDeb(tree, pkg);
    writeDebDatabase(tree);
    const text = dec(tree.get('var/lib/dpkg/status.d/carrier')?.body);
    assert.equal(
      text,
      'Package: carrier\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@example.org>\nDescription: test\n',
    );
    assert.deepEqual(dpkgStatusFiles(pkg, { statusLine: false })[0]?.body, enc(dec(pkg.controlBytes).replace(STATUS_FIELDS, '')));
    // No dpkg: none of dpkg's own files.
    assert.equal(tree.get('var/lib/dpkg/status'), undefined);
  });

  it('writes each database file once, after the last package: no status.d on the way to dpkg, one status file', async () => {
    const m = 'Maintainer: t <t@example.org>\n';
    const usr = [dir('./usr/'), dir('./usr/share/')];
    const base = await crafted('base', [...usr, file('./usr/share/shared', 'base\n')], m);
    const early = await crafted('early', [...usr, file('./usr/share/early', 'early\n')], m);
    const dpkg = await crafted('dpkg', [...usr, dir('./var/'), dir('./var/lib/'), dir('./var/lib/dpkg/')], `${m}Pre-Depends: base\n`);
    const taker = await crafted('taker', [...usr, file('./usr/share/shared', 'taker\n')], `${m}Replaces: base\n`);
    /** A tree that counts the writes under var/lib/dpkg, by path. */
    class CountingTree extends Tree {
      readonly writes = new Map<string, number>();
      override put(path: string, node: Parameters<Tree['put']>[1]): string {
        if (path.startsWith('var/lib/dpkg/') && node.type !== 'dir') this.writes.set(path, (this.writes.get(path) ?? 0) + 1);
        return super.put(path, node);
      }
    }
    const source = sourceWithoutIndexes();
    const times = { mtime: 1_700_000_000, clamp: 1_700_000_000 };
    const tree = new CountingTree();
    const installed = await source.install(tree, [base, early, dpkg, taker], 'x86_64', times);
    // Before, status.d/base and status.d/early were written and taken out when dpkg came, the
    // status file written again after each package from dpkg on, and base's list after taker's.
    assert.deepEqual(
      [...tree.writes].filter(([, n]) => n > 1),
      [],
    );
    assert.deepEqual(
      [...tree.writes.keys()].filter((p) => p.startsWith('var/lib/dpkg/status.d')),
      [],
    );
    assert.deepEqual(
      [...tree.writes.keys()].sort(),
      [
        'var/lib/dpkg/info/format',
        ...['base', 'dpkg', 'early', 'taker'].flatMap((n) => [`var/lib/dpkg/info/${n}.list`, `var/lib/dpkg/info/${n}.md5sums`]),
        'var/lib/dpkg/status',
        'var/lib/dpkg/triggers/Lock',
        'var/lib/dpkg/triggers/Unincorp',
      ].sort(),
    );
    assert.deepEqual(
      installed.map((p) => p.database),
      ['base', 'early', 'dpkg', 'taker'].map((n) => [`var/lib/dpkg/info/${n}.list`, `var/lib/dpkg/info/${n}.md5sums`]),
    );
    // What the database says is the whole story: base's list without the file taker took over,
    // one stanza a package in dpkg's order, the folders above it of the first package's time.
    assert.equal(dec(tree.get('var/lib/dpkg/info/base.list')?.body), '/.\n/usr\n/usr/share\n');
    assert.deepEqual(
      dec(tree.get('var/lib/dpkg/status')?.body)
        .split('\n')
        .filter((l) => l.startsWith('Package: ')),
      ['Package: base', 'Package: dpkg', 'Package: early', 'Package: taker'],
    );
    assert.equal(tree.get('var/lib/dpkg/status.d'), undefined);
    // Without dpkg, each package's status.d files, once.
    const without = new CountingTree();
    await source.install(without, [base, early, taker], 'x86_64', times);
    assert.deepEqual(
      [...without.writes].sort(),
      ['base', 'base.md5sums', 'early', 'early.md5sums', 'taker', 'taker.md5sums'].map((n) => [`var/lib/dpkg/status.d/${n}`, 1]),
    );
  });

  it("writes dpkg's status and info/ when dpkg is installed, as dpkg-query, dpkg --audit and dpkg --verify read them", {
    skip:
      (spawnSync('dpkg-query', ['--version'], { stdio: 'ignore' }).status !== 0 &&
        'dpkg-query is not installed: nothing to judge the database') ||
      (spawnSync('tar', ['--version'], { stdio: 'ignore' }).status !== 0 && 'GNU tar is not installed'),
  }, async () => {
    const m = 'Maintainer: t <t@example.org>\n';
    const base = await crafted(
      'base',
      [dir('./etc/'), file('./etc/base.conf', 'conf\n'), dir('./usr/'), dir('./usr/share/'), file('./usr/share/shared', 'base\n')],
      `${m}Essential: yes\nPriority: required\nSection: admin\nHomepage: https://example.org/\n`,
      { conffiles: '/etc/base.conf\nremove-on-upgrade /etc/old.conf\n' },
    );
    const lib = await crafted(
      'libt1',
      [dir('./usr/'), dir('./usr/lib/'), file('./usr/lib/libt.so.1', 'elf\n')],
      `${m}Multi-Arch: same\nDepends: base(>=1)|other\n`,
    );
    const dpkg = await crafted(
      'dpkg',
      [
        dir('./usr/'),
        dir('./usr/bin/'),
        file('./usr/bin/dpkg', '#!/bin/sh\n', { mode: 0o755 }),
        dir('./var/'),
        dir('./var/lib/'),
        dir('./var/lib/dpkg/'),
        dir('./var/lib/dpkg/info/'),
      ],
      `${m}Pre-Depends: libt1 (>= 1.0), base\n`,
    );
    const carrier = await crafted(
      'carrier',
      [dir('./usr/'), dir('./usr/share/'), file('./usr/share/carrier', 'x\n')],
      `${m}${STATUS_FIELDS}`,
    );
    const bare = await crafted('bare', [dir('./usr/'), dir('./usr/share/'), file('./usr/share/bare', 'no md5sums\n')], m, {
      md5sums: false,
    });
    const taker = await crafted(
      'taker',
      [dir('./usr/'), dir('./usr/share/'), file('./usr/share/shared', 'taker\n')],
      `${m}Replaces: base\n`,
    );
    const tree = new Tree();
    const versions = new Map<string, string>();
    const installed = [base, lib, dpkg, carrier, bare, taker].map((p) => {
      const r = installDeb(tree, p, { mtime: 1_700_000_000, installedVersions: versions });
      versions.set(p.name, p.version);
      return r;
    });
    writeDebDatabase(tree);
    // status.d went with dpkg's arrival, for the packages installed before it as well.
    assert.equal(tree.get('var/lib/dpkg/status.d'), undefined);
    const info = (n: string) => ['list', 'md5sums', 'conffiles'].map((x) => `var/lib/dpkg/info/${n}.${x}`).filter((p) => tree.get(p));
    assert.deepEqual(
      installed.map((i) => i.database),
      ['base', 'libt1:amd64', 'dpkg', 'carrier', 'bare', 'taker'].map(info),
    );
    assert.equal(info('base').length, 3);

    const tmp = mkdtempSync(join(tmpdir(), 'deb-dpkgdb-'));
    try {
      const tar = join(tmp, 'layer.tar');
      writeFileSync(tar, gunzipSync(await layerBytes(await treeLayer(tree))));
      const root = join(tmp, 'root');
      mkdirSync(root);
      assert.equal(spawnSync('tar', ['-xf', tar, '-C', root]).status, 0);
      const admindir = join(root, 'var/lib/dpkg');
      const dpkgRun = (cmd: string, ...args: string[]) => {
        const r = spawnSync(cmd, args, { encoding: 'utf8' });
        // A database dpkg reads without a warning: no field missing, none twice, no file absent.
        assert.equal(r.stderr, '', `${cmd} ${args.join(' ')}`);
        return r;
      };
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
      const listed = dpkgRun('dpkg-query', `--admindir=${admindir}`, '-W', '-f', '${binary:Package} ${Version} ${db:Status-Abbrev}\n');
      assert.equal(listed.stdout, ['bare', 'base', 'carrier', 'dpkg', 'libt1:amd64', 'taker'].map((n) => `${n} 1.0 ii \n`).join(''));
      // The status file is what dpkg's own writer gives for each package, in its order.
      const status = readFileSync(join(admindir, 'status'), 'utf8');
      const written = ['bare', 'base', 'carrier', 'dpkg', 'libt1', 'taker'].map(
        (n) => `${dpkgRun('dpkg-query', `--admindir=${admindir}`, '-s', n).stdout}\n`,
      );
      assert.equal(status, written.join(''));
      const md5 = createHash('md5').update('conf\n').digest('hex');
      assert.match(
        status,
        new RegExp(
          `^Package: base\\nEssential: yes\\nStatus: install ok installed\\nPriority: required\\nSection: admin\\nMaintainer: t <t@example.org>\\nArchitecture: amd64\\nVersion: 1.0\\nConffiles:\\n /etc/base.conf ${md5}\\n /etc/old.conf newconffile remove-on-upgrade\\nDescription: test\\nHomepage: https://example.org/\\n\\n`,
          'm',
        ),
      );
      // Relations as dpkg writes them; one Status, and the control file's others left out.
      assert.match(status, /^Depends: base \(>= 1\) \| other$/m);
      assert.equal(status.match(/^Status: /gm)?.length, 6);
      assert.doesNotMatch(status, /Config-Version|Triggers-Pending|not-installed/);
      // Nothing to audit, and every file as md5sums gives it (a made md5sums for `bare`).
      assert.equal(dpkgRun('dpkg', `--root=${root}`, '--audit').stdout, '');
      assert.equal(dpkgRun('dpkg', `--root=${root}`, '--verify').stdout, '');
      assert.equal(
        readFileSync(join(admindir, 'info/bare.md5sums'), 'utf8'),
        `${createHash('md5').update('no md5sums\n').digest('hex')}  usr/share/bare\n`,
      );
      writeFileSync(join(root, 'usr/lib/libt.so.1'), 'changed\n');
      assert.match(dpkgRun('dpkg', `--root=${root}`, '--verify', 'libt1').stdout, /^\?\?5\?\?\?\?\?\? {3}\/usr\/lib\/libt\.so\.1$/m);
      // The file taker replaced is taker's alone, as dpkg leaves the replaced package's list.
      assert.equal(dpkgRun('dpkg-query', `--admindir=${admindir}`, '-S', '/usr/share/shared').stdout, 'taker: /usr/share/shared\n');
      assert.equal(dpkgRun('dpkg-query', `--admindir=${admindir}`, '-L', 'base').stdout, '/.\n/etc\n/etc/base.conf\n/usr\n/usr/share\n');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  /** Packages with maintainer scripts, other control members and trigger interests, for `arch`; `dpkg` last (it only makes the database dpkg's). */
  async function withScripts(arch: string): Promise<{ name: string; deb: Uint8Array }[]> {
    const m = 'Maintainer: t <t@example.org>\n';
    const script = (name: string, body = '#!/bin/sh\nexit 0\n') => file(`./${name}`, body, { mode: 0o755 });
    const usr = [dir('./usr/'), dir('./usr/share/')];
    const debs = [
      {
        name: 'watcher',
        deb: await craftedBytes(
          'watcher',
          [...usr, dir('./usr/share/watched/'), file('./usr/share/watcher', 'w\n')],
          `${m}Multi-Arch: same\n`,
          {
            arch,
            others: [
              ...['preinst', 'postinst', 'prerm', 'postrm', 'config'].map((n) => script(n)),
              file('./templates', 'Template: watcher/q\nType: boolean\n'),
              file('./shlibs', 'libwatch 1 watcher\n'),
              file('./symbols', 'libwatch.so.1 watcher #MINVER#\n'),
              file(
                './triggers',
                '# interests\n\ninterest-noawait watch-trig\n  interest /usr/share/watched  \ninterest-await shared-trig\n',
              ),
              // A member with a dot in its name: dpkg keeps none.
              file('./notes.txt', 'not kept\n'),
            ],
          },
        ),
      },
      {
        name: 'second',
        deb: await craftedBytes('second', [...usr, dir('./usr/share/watched/'), file('./usr/share/watched/second', 'x\n')], m, {
          arch,
          others: [
            script('postinst'),
            file('./triggers', 'interest shared-trig\ninterest-noawait /usr/share/watched\nactivate-noawait watch-trig\n'),
          ],
        }),
      },
      { name: 'plain', deb: await craftedBytes('plain', [...usr, file('./usr/share/plain', 'p\n')], m, { arch }) },
      {
        name: 'dpkg',
        deb: await craftedBytes('dpkg', [dir('./var/'), dir('./var/lib/'), dir('./var/lib/dpkg/'), dir('./var/lib/dpkg/info/')], m, {
          arch,
          others: [script('prerm')],
        }),
      },
    ];
    return debs;
  }

  it('keeps every control member dpkg keeps in info/, scripts 0755, and the trigger interests in triggers/', async () => {
    const tree = new Tree();
    for (const { name, deb } of await withScripts('amd64')) installDeb(tree, await readDeb(deb, { where: name }), { mtime: 1_700_000_000 });
    writeDebDatabase(tree);
    const files = (under: string) =>
      tree
        .under(under)
        .filter((p) => tree.get(p)?.type === 'file')
        .map((p) => `${p.slice(under.length + 1)} ${tree.get(p)?.mode.toString(8)}`)
        .sort();
    assert.deepEqual(files('var/lib/dpkg/info'), [
      'dpkg.list 644',
      'dpkg.md5sums 644',
      'dpkg.prerm 755',
      'format 644',
      'plain.list 644',
      'plain.md5sums 644',
      'second.list 644',
      'second.md5sums 644',
      'second.postinst 755',
      'second.triggers 644',
      'watcher:amd64.config 755',
      'watcher:amd64.list 644',
      'watcher:amd64.md5sums 644',
      'watcher:amd64.postinst 755',
      'watcher:amd64.postrm 755',
      'watcher:amd64.preinst 755',
      'watcher:amd64.prerm 755',
      'watcher:amd64.shlibs 644',
      'watcher:amd64.symbols 644',
      'watcher:amd64.templates 644',
      'watcher:amd64.triggers 644',
    ]);
    assert.equal(dec(tree.get('var/lib/dpkg/info/watcher:amd64.postinst')?.body), '#!/bin/sh\nexit 0\n');
    assert.equal(dec(tree.get('var/lib/dpkg/info/watcher:amd64.shlibs')?.body), 'libwatch 1 watcher\n');
    // Interests in the packages' order, `/noawait` where they said so; no activation left pending.
    assert.deepEqual(files('var/lib/dpkg/triggers'), ['File 644', 'Lock 600', 'Unincorp 644', 'shared-trig 644', 'watch-trig 644']);
    const trig = (n: string) => dec(tree.get(`var/lib/dpkg/triggers/${n}`)?.body);
    assert.equal(trig('File'), '/usr/share/watched watcher:amd64\n/usr/share/watched second/noawait\n');
    assert.equal(trig('watch-trig'), 'watcher:amd64/noawait\n');
    assert.equal(trig('shared-trig'), 'watcher:amd64\nsecond\n');
    assert.equal(trig('Unincorp'), '');
    assert.doesNotMatch(dec(tree.get('var/lib/dpkg/status')?.body), /Triggers-/);
  });

  it('refuses a triggers file dpkg refuses', async () => {
    for (const triggers of [
      'interest\n',
      'wants x\n',
      'interest bad_name\n',
      'interest File\n',
      'interest /usr//share\n',
      'interest /usr/share/\n',
    ]) {
      const tree = new Tree();
      for (const [name, others] of [
        ['odd', [file('./triggers', triggers)]],
        ['dpkg', []],
      ] as const)
        installDeb(tree, await crafted(name, [file(`./usr/share/${name}`, 'x\n')], '', { others: [...others] }));
      assert.throws(
        () => writeDebDatabase(tree),
        (e: unknown) => isProvenantError(e) && e.code === 'INVALID_PACKAGE' && /odd_1\.0_amd64: triggers/.test(e.message),
        triggers,
      );
    }
  });

  it('leaves info/ and triggers/ byte for byte as dpkg --install of the same packages does', {
    skip:
      (spawnSync('dpkg', ['--version'], { stdio: 'ignore' }).status !== 0 && 'dpkg is not installed: nothing to compare with') ||
      (process.getuid?.() !== 0 && 'dpkg --install needs root'),
  }, async () => {
    const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
    const debs = await withScripts(arch);
    const tree = new Tree();
    for (const { name, deb } of debs) installDeb(tree, await readDeb(deb, { where: name }), { mtime: 1_700_000_000 });
    writeDebDatabase(tree);
    const tmp = mkdtempSync(join(tmpdir(), 'deb-dpkginfo-'));
    try {
      const root = join(tmp, 'root');
      for (const d of ['updates', 'info']) mkdirSync(join(root, 'var/lib/dpkg', d), { recursive: true });
      writeFileSync(join(root, 'var/lib/dpkg/status'), '');
      const paths = debs.map(({ name, deb }) => {
        const path = join(tmp, `${name}.deb`);
        writeFileSync(path, deb);
        return path;
      });
      // The scripts (`exit 0`) run outside the root, which has no shell; then nothing is pending.
      const run = (...args: string[]) => {
        const r = spawnSync('dpkg', [`--root=${root}`, '--force-script-chrootless', ...args], { encoding: 'utf8' });
        assert.equal(r.status, 0, `dpkg ${args.join(' ')}: ${r.stderr}`);
      };
      run('--install', ...paths);
      run('--configure', '--pending');
      // Every trigger processed: the status files agree too, with no Triggers-Pending.
      assert.equal(readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8'), dec(tree.get('var/lib/dpkg/status')?.body));
      for (const under of ['var/lib/dpkg/info', 'var/lib/dpkg/triggers']) {
        const theirs = new Map<string, string>();
        for (const name of readdirSync(join(root, under))) {
          const path = join(root, under, name);
          theirs.set(name, `${(statSync(path).mode & 0o7777).toString(8)} ${readFileSync(path, 'utf8')}`);
        }
        const ours = new Map<string, string>();
        for (const p of tree.under(under)) {
          const node = tree.get(p);
          if (node?.type === 'file') ours.set(p.slice(under.length + 1), `${node.mode.toString(8)} ${dec(node.body)}`);
        }
        assert.deepEqual(new Map([...ours].sort()), new Map([...theirs].sort()), under);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('packages that replace one another, a folder two install, as dpkg leaves them', () => {
  const m = 'Maintainer: t <t@example.org>\n';
  const folder = (name: string, mode = 0o755, uid = 0, gid = 0): TarWriteEntry => ({
    header: tarHeader({ name, type: 'dir', mode, uid, gid }),
  });
  const usrShare = [dir('./usr/'), dir('./usr/share/')];
  /** `old` ships /usr/share/m/f and the conffile /etc/m.conf, and no md5sums (dpkg makes one); `new` ships both and Replaces it. */
  const replacing = async (arch = 'amd64') => ({
    old: await craftedBytes(
      'old',
      [
        dir('./etc/'),
        file('./etc/m.conf', 'old\n'),
        ...usrShare,
        dir('./usr/share/m/'),
        file('./usr/share/m/f', 'o\n'),
        file('./usr/share/m/g', 'g\n'),
      ],
      m,
      { arch, conffiles: '/etc/m.conf\n', md5sums: false },
    ),
    new: await craftedBytes(
      'new',
      [dir('./etc/'), file('./etc/m.conf', 'new\n'), ...usrShare, dir('./usr/share/m/'), file('./usr/share/m/f', 'n\n')],
      `${m}Replaces: old\n`,
      { arch, conffiles: '/etc/m.conf\n' },
    ),
  });
  /** Folders and a file at /opt/zz: `ds` ships the folder, `ft` the file; `dsr` and `ftr` the same, each replacing the other. */
  const folderOrFile = async (arch = 'amd64') => {
    const own = (n: string) => file(`./opt/own-${n}`, `${n}\n`);
    return {
      ds: await craftedBytes('ds', [dir('./opt/'), dir('./opt/zz/'), own('ds')], m, { arch }),
      ft: await craftedBytes('ft', [dir('./opt/'), file('./opt/zz', 'x\n'), own('ft')], m, { arch, md5sums: false }),
      dsr: await craftedBytes('dsr', [dir('./opt/'), dir('./opt/zz/'), own('dsr')], `${m}Replaces: ft\n`, { arch }),
      ftr: await craftedBytes('ftr', [dir('./opt/'), file('./opt/zz', 'x\n'), own('ftr')], `${m}Replaces: ds\n`, { arch }),
    };
  };
  /** Two packages shipping /opt/dd with other modes and owners. */
  const sharedFolder = async (arch = 'amd64') => ({
    da: await craftedBytes('da', [dir('./opt/'), folder('./opt/dd/', 0o700, 1, 2), file('./opt/dd/a', 'a\n')], m, { arch }),
    db: await craftedBytes('db', [dir('./opt/'), folder('./opt/dd/', 0o755), file('./opt/dd/b', 'b\n')], m, { arch }),
  });
  /**
   * /opt/zz a folder of `sa` and `sb` (and `sbr`, which Replaces `fa`), a symlink of `cl`, and a
   * file of `fa`, which Replaces `sa`, of `fab`, which Replaces both, of `facl`, which Replaces `sa`
   * and `cl`, and of `fn`, which Replaces neither.
   */
  const sharedThenFile = async (arch = 'amd64') => {
    const own = (n: string) => file(`./opt/own-${n}`, `${n}\n`);
    const shares = (n: string, extra = '') => craftedBytes(n, [dir('./opt/'), dir('./opt/zz/'), own(n)], `${m}${extra}`, { arch });
    const overs = (n: string, extra: string) => craftedBytes(n, [dir('./opt/'), file('./opt/zz', 'x\n'), own(n)], `${m}${extra}`, { arch });
    return {
      sa: await shares('sa'),
      sb: await shares('sb'),
      sbr: await shares('sbr', 'Replaces: fa\n'),
      fa: await overs('fa', 'Replaces: sa\n'),
      fab: await overs('fab', 'Replaces: sa, sb\n'),
      fn: await overs('fn', ''),
      cl: await craftedBytes(
        'cl',
        [dir('./opt/'), own('cl'), { header: tarHeader({ name: './opt/zz', type: 'symlink', linkname: 'own-cl' }) }],
        m,
        { arch },
      ),
      facl: await overs('facl', 'Replaces: sa, cl\n'),
    };
  };
  const dpkgDeb = (arch = 'amd64') => craftedBytes('dpkg', [dir('./var/'), dir('./var/lib/'), dir('./var/lib/dpkg/')], m, { arch });
  /** The packages installed in this order through a source, dpkg last: the database is dpkg's. */
  async function built(debs: Uint8Array[]): Promise<Tree> {
    const tree = new Tree();
    const pkgs = await Promise.all(debs.map((d, i) => readDeb(d, { where: `deb${i}` })));
    await sourceWithoutIndexes().install(tree, pkgs, 'x86_64', { mtime: 0, clamp: 0 });
    return tree;
  }
  const text = (tree: Tree, path: string) => dec(tree.get(path)?.body);
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');

  it("takes the paths an installed package keeps out of the replaced one's list and made md5sums, and marks its conffile obsolete, in either order", async () => {
    const { old, new: replacer } = await replacing();
    const forward = await built([old, replacer, await dpkgDeb()]);
    const reverse = await built([replacer, old, await dpkgDeb()]);
    for (const [order, tree] of [
      ['forward', forward],
      ['reverse', reverse],
    ] as const) {
      // The installed package's files stay, the replacing one's wins.
      assert.equal(text(tree, 'usr/share/m/f'), 'n\n', order);
      assert.equal(text(tree, 'etc/m.conf'), 'new\n', order);
      assert.equal(tree.get('usr/share/m/f')?.owner, 'new', order);
      assert.equal(text(tree, 'var/lib/dpkg/info/old.list'), '/.\n/etc\n/usr\n/usr/share\n/usr/share/m\n/usr/share/m/g\n', order);
      assert.equal(
        text(tree, 'var/lib/dpkg/info/new.list'),
        '/.\n/etc\n/etc/m.conf\n/usr\n/usr/share\n/usr/share/m\n/usr/share/m/f\n',
        order,
      );
      const status = text(tree, 'var/lib/dpkg/status');
      assert.match(status, /^Package: old\n(?:.*\n)*?Conffiles:\n \/etc\/m\.conf newconffile obsolete\n/m, order);
      assert.match(status, new RegExp(`^Package: new\\n(?:.*\\n)*?Conffiles:\\n /etc/m\\.conf ${md5('new\n')}\\n`, 'm'), order);
    }
    // dpkg made old's md5sums from what it unpacked: all of it when old came first, without the
    // files the installed package kept when it came second.
    assert.equal(
      text(forward, 'var/lib/dpkg/info/old.md5sums'),
      `${md5('old\n')}  etc/m.conf\n${md5('o\n')}  usr/share/m/f\n${md5('g\n')}  usr/share/m/g\n`,
    );
    assert.equal(text(reverse, 'var/lib/dpkg/info/old.md5sums'), `${md5('g\n')}  usr/share/m/g\n`);
  });

  it("refuses anything but a folder over another package's folder unless one replaces the other, naming both and the path", async () => {
    const { ds, ft, dsr, ftr } = await folderOrFile();
    await assert.rejects(built([ds, ft]), (err: unknown) => {
      assert.ok(isProvenantError(err, 'FILE_CONFLICT'), String(err));
      assert.equal(err.message, 'ft installs /opt/zz as a file, and ds installs /opt/zz as a folder');
      assert.equal(err.where, 'ft_1.0_amd64');
      return true;
    });
    const link = await craftedBytes(
      'lt',
      [dir('./opt/'), { header: tarHeader({ name: './opt/own-ds', type: 'symlink', linkname: 'zz' }) }],
      m,
    );
    // A symlink over a folder keeps the folder, as before; over a file, a conflict as before.
    await assert.rejects(built([ds, link]), /lt and ds both install \/opt\/own-ds/);
    // The file replaces the (empty) folder: ds no longer lists it.
    const taken = await built([ds, ftr, await dpkgDeb()]);
    assert.equal(taken.get('opt/zz')?.type, 'file');
    assert.equal(text(taken, 'var/lib/dpkg/info/ds.list'), '/.\n/opt\n/opt/own-ds\n');
    // The folder of a package that replaces the file's stays, and the file's package no longer lists the path.
    const kept = await built([dsr, ft, await dpkgDeb()]);
    assert.equal(kept.get('opt/zz')?.type, 'dir');
    assert.equal(kept.get('opt/zz')?.owner, 'dsr');
    assert.equal(text(kept, 'var/lib/dpkg/info/ft.list'), '/.\n/opt\n/opt/own-ft\n');
    assert.equal(text(kept, 'var/lib/dpkg/info/ft.md5sums'), `${md5('ft\n')}  opt/own-ft\n`);
  });

  it('asks every package that installed a folder, the latest first, and takes the path from each list, as dpkg does', async () => {
    const { sa, sb, sbr, fa, fab, fn } = await sharedThenFile();
    // fa replaces sa alone: sb's folder refuses it.
    await assert.rejects(built([sa, sb, fa]), (err: unknown) => {
      assert.ok(isProvenantError(err, 'FILE_CONFLICT'), String(err));
      assert.equal(err.message, 'fa installs /opt/zz as a file, and sb installs /opt/zz as a folder');
      return true;
    });
    // Neither replaced: the latest is named, as dpkg names it.
    await assert.rejects(built([sa, sb, fn]), /fn installs \/opt\/zz as a file, and sb installs \/opt\/zz as a folder/);
    // fab replaces both: the file takes the folder over, and neither lists it any more.
    const taken = await built([sa, sb, fab, await dpkgDeb()]);
    assert.equal(taken.get('opt/zz')?.type, 'file');
    assert.equal(text(taken, 'var/lib/dpkg/info/sa.list'), '/.\n/opt\n/opt/own-sa\n');
    assert.equal(text(taken, 'var/lib/dpkg/info/sb.list'), '/.\n/opt\n/opt/own-sb\n');
    assert.equal(text(taken, 'var/lib/dpkg/info/fab.list'), '/.\n/opt\n/opt/zz\n/opt/own-fab\n');
    // sbr replaces fa: the folder stays, listed by both that ship it, and fa's file is left out.
    const kept = await built([sa, sbr, fa, await dpkgDeb()]);
    assert.equal(kept.get('opt/zz')?.type, 'dir');
    assert.equal(text(kept, 'var/lib/dpkg/info/sa.list'), '/.\n/opt\n/opt/zz\n/opt/own-sa\n');
    assert.equal(text(kept, 'var/lib/dpkg/info/sbr.list'), '/.\n/opt\n/opt/zz\n/opt/own-sbr\n');
    assert.equal(text(kept, 'var/lib/dpkg/info/fa.list'), '/.\n/opt\n/opt/own-fa\n');
  });

  it('asks a package whose symlink left the folder where it was, and takes the path from its list, as dpkg does', async () => {
    const { sa, cl, fa, facl } = await sharedThenFile();
    // cl's symlink kept sa's folder, and cl's list has the path: cl refuses fa's file.
    await assert.rejects(built([sa, cl, fa]), (err: unknown) => {
      assert.ok(isProvenantError(err, 'FILE_CONFLICT'), String(err));
      assert.equal(err.message, 'fa installs /opt/zz as a file, and cl installs /opt/zz as a folder');
      return true;
    });
    const taken = await built([sa, cl, facl, await dpkgDeb()]);
    assert.equal(taken.get('opt/zz')?.type, 'file');
    assert.equal(text(taken, 'var/lib/dpkg/info/sa.list'), '/.\n/opt\n/opt/own-sa\n');
    assert.equal(text(taken, 'var/lib/dpkg/info/cl.list'), '/.\n/opt\n/opt/own-cl\n');
  });

  it('names each package that shares a folder of a merged /usr with the path it installed', async () => {
    const ua = await crafted('ua', [dir('./usr/'), dir('./usr/lib/'), dir('./usr/lib/zz/')]);
    const lb = await crafted('lb', [dir('./lib/'), dir('./lib/zz/')]);
    const fz = await crafted('fz', [dir('./usr/'), dir('./usr/lib/'), file('./usr/lib/zz', 'z\n')], `${m}Replaces: ua\n`);
    const tree = new Tree();
    tree.mkdirAll('usr/lib');
    tree.put('lib', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: 'usr/lib', owner: 'build' });
    installDeb(tree, ua);
    installDeb(tree, lb);
    assert.throws(
      () => installDeb(tree, fz),
      (err: unknown) =>
        isProvenantError(err, 'FILE_CONFLICT') &&
        err.message === 'fz installs /usr/lib/zz as a file, and lb installs /lib/zz as a folder: one path in the image, /usr/lib/zz',
    );
  });

  it('names the kind of entry a folder refuses in words', async () => {
    const { sa } = await sharedThenFile();
    const dev = await craftedBytes(
      'dev',
      [dir('./opt/'), { header: tarHeader({ name: './opt/zz', type: 'char', mode: 0o600, devmajor: 1, devminor: 3 }) }],
      m,
    );
    await assert.rejects(built([sa, dev]), (err: unknown) => {
      assert.ok(isProvenantError(err, 'FILE_CONFLICT'), String(err));
      assert.equal(err.message, 'dev installs /opt/zz as a character device, and sa installs /opt/zz as a folder');
      return true;
    });
  });

  it('keeps the mode and owners of the first package that installs a folder', async () => {
    const { da, db } = await sharedFolder();
    for (const [first, second, want] of [
      [da, db, { mode: 0o700, uid: 1, gid: 2, owner: 'da' }],
      [db, da, { mode: 0o755, uid: 0, gid: 0, owner: 'db' }],
    ] as const) {
      const tree = await built([first, second]);
      const node = tree.get('opt/dd');
      assert.deepEqual({ mode: node?.mode, uid: node?.uid, gid: node?.gid, owner: node?.owner }, want);
      assert.deepEqual(tree.under('opt/dd'), ['opt/dd/a', 'opt/dd/b']);
    }
  });

  it('names each package with its own path when two install one path of a merged /usr', async () => {
    const e = await crafted('pkge', [dir('./bin/'), file('./bin/dup', 'e\n')]);
    const f = await crafted('pkgf', [dir('./usr/'), dir('./usr/bin/'), file('./usr/bin/dup', 'f\n')]);
    const merged = () => {
      const tree = new Tree();
      tree.mkdirAll('usr/bin');
      tree.put('bin', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: 'usr/bin', owner: 'build' });
      return tree;
    };
    const first = merged();
    installDeb(first, e);
    assert.throws(
      () => installDeb(first, f),
      (err: unknown) =>
        isProvenantError(err, 'FILE_CONFLICT') &&
        err.message === 'pkgf installs /usr/bin/dup and pkge installs /bin/dup: one path in the image, /usr/bin/dup',
    );
    const second = merged();
    installDeb(second, f);
    assert.throws(
      () => installDeb(second, e),
      (err: unknown) =>
        isProvenantError(err, 'FILE_CONFLICT') &&
        err.message === 'pkge installs /bin/dup and pkgf installs /usr/bin/dup: one path in the image, /usr/bin/dup',
    );
  });

  it('leaves info/, status and the files as dpkg --install of the same packages does', {
    skip:
      (spawnSync('dpkg', ['--version'], { stdio: 'ignore' }).status !== 0 && 'dpkg is not installed: nothing to compare with') ||
      (process.getuid?.() !== 0 && 'dpkg --install needs root'),
  }, async () => {
    const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
    const { old, new: replacer } = await replacing(arch);
    const { ds, ft, dsr, ftr } = await folderOrFile(arch);
    const { da, db } = await sharedFolder(arch);
    const { sa, sb, sbr, fa, fab, fn, cl, facl } = await sharedThenFile(arch);
    const dpkg = await dpkgDeb(arch);
    const tmp = mkdtempSync(join(tmpdir(), 'deb-replaces-'));
    /** An empty dpkg root for `label`, and the paths of `debs` written beside it. */
    const scratch = (label: string, debs: readonly Uint8Array[]) => {
      const name = label.replaceAll(' ', '-');
      const root = join(tmp, name);
      for (const d of ['updates', 'info']) mkdirSync(join(root, 'var/lib/dpkg', d), { recursive: true });
      writeFileSync(join(root, 'var/lib/dpkg/status'), '');
      const paths = debs.map((deb, i) => {
        const path = join(tmp, `${name}-${i}.deb`);
        writeFileSync(path, deb);
        return path;
      });
      return { root, paths };
    };
    try {
      for (const [label, debs] of Object.entries({
        'old new': [old, replacer],
        'new old': [replacer, old],
        'ds ftr': [ds, ftr],
        'ftr ds': [ftr, ds],
        'ft dsr': [ft, dsr],
        'dsr ft': [dsr, ft],
        'da db': [da, db],
        'db da': [db, da],
        'sa sb fab': [sa, sb, fab],
        'sa sbr fa': [sa, sbr, fa],
        'sa cl': [sa, cl],
        'sa cl facl': [sa, cl, facl],
      })) {
        const all = [...debs, dpkg];
        const tree = await built(all);
        const { root, paths } = scratch(label, all);
        for (const args of [
          ['--install', ...paths],
          ['--configure', '--pending'],
        ]) {
          const r = spawnSync('dpkg', [`--root=${root}`, '--force-script-chrootless', ...args], { encoding: 'utf8' });
          assert.equal(r.status, 0, `${label}: dpkg ${args[0]}: ${r.stderr}`);
        }
        assert.equal(dec(tree.get('var/lib/dpkg/status')?.body), readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8'), label);
        for (const name of readdirSync(join(root, 'var/lib/dpkg/info'))) {
          assert.equal(
            dec(tree.get(`var/lib/dpkg/info/${name}`)?.body),
            readFileSync(join(root, 'var/lib/dpkg/info', name), 'utf8'),
            `${label}: ${name}`,
          );
        }
        // Every path the packages installed, of the same kind, mode and owners.
        // (/tmp is the build's.)
        for (const p of tree.paths().filter((p) => !p.startsWith('var/') && p !== 'tmp')) {
          const st = statSync(join(root, p));
          const node = tree.get(p);
          const kind = (t: string | undefined) => (t === 'dir' ? 'dir' : 'file');
          assert.deepEqual(
            [kind(node?.type), node?.mode, node?.uid, node?.gid],
            [st.isDirectory() ? 'dir' : 'file', st.mode & 0o7777, st.uid, st.gid],
            `${label}: /${p}`,
          );
          if (node?.type === 'file') assert.equal(dec(node.body), readFileSync(join(root, p), 'utf8'), `${label}: /${p}`);
        }
      }
      // Where dpkg refuses the last package, the same package's folder refuses it.
      for (const [label, debs, theirs] of [
        ['sa sb fa', [sa, sb, fa], 'sb'],
        ['sa sb fn', [sa, sb, fn], 'sb'],
        ['sa cl fa', [sa, cl, fa], 'cl'],
      ] as const) {
        const { root, paths } = scratch(label, debs);
        const r = spawnSync('dpkg', [`--root=${root}`, '--force-script-chrootless', '--install', ...paths], { encoding: 'utf8' });
        assert.notEqual(r.status, 0, label);
        assert.match(r.stderr, new RegExp(`trying to overwrite directory '/opt/zz' in package ${theirs} 1\\.0 with nondirectory`), label);
        await assert.rejects(built([...debs]), new RegExp(`installs /opt/zz as a file, and ${theirs} installs /opt/zz as a folder`), label);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('reads no body of a conffile whose hash the status file does not give (one another package replaced)', async () => {
    const pkg = await crafted('c', [dir('./etc/'), file('./etc/kept.conf', 'kept\n'), file('./etc/taken.conf', 'taken\n')], m, {
      conffiles: '/etc/kept.conf\n/etc/taken.conf\n',
    });
    const at = mkdtempSync(join(tmpdir(), 'conffiles-'));
    try {
      const kept = onDisk(pkg, at);
      // The replaced conffile's bytes are gone from the cache: reading them would fail the build.
      const taken = [...kept.entries].find((e) => e.path === 'etc/taken.conf')?.body;
      assert.ok(taken !== undefined && !(taken instanceof Uint8Array));
      rmSync(taken.path);
      assert.deepEqual(dpkgConffiles(kept, new Set(['etc/taken.conf'])), [
        { path: '/etc/kept.conf', hash: md5('kept\n'), flag: undefined },
        { path: '/etc/taken.conf', hash: 'newconffile', flag: undefined, obsolete: true },
      ]);
    } finally {
      rmSync(at, { recursive: true, force: true });
    }
  });

  it('gives a flagged conffile line no hash, even when its path is listed again without a flag', async () => {
    const pkg = await crafted('d', [dir('./etc/'), file('./etc/a.conf', 'a\n')], m, {
      conffiles: 'remove-on-upgrade /etc/a.conf\n/etc/a.conf\n',
    });
    assert.deepEqual(dpkgConffiles(pkg, new Set()), [
      { path: '/etc/a.conf', hash: 'newconffile', flag: 'remove-on-upgrade' },
      { path: '/etc/a.conf', hash: md5('a\n'), flag: undefined },
    ]);
  });
});
