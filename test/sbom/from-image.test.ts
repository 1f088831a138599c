// Package inventories read from an image: os-release, apk's installed database, dpkg's status.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { parseControlStanzas } from '../../src/pkg/deb/control.ts';
import type { Inventory } from '../../src/pkg/inventory.ts';
import { inventoryFromApkDatabase, inventoryFromDpkgStatus, parseOsRelease } from '../../src/sbom/from-image.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';

const skip = fixturesMissing;
const image: Inventory['image'] = { name: 'test', digest: `sha256:${'1'.repeat(64)}`, architecture: 'amd64', os: 'linux' };

/** The P:/V: pairs of an installed database, read independently of the code under test. */
function namesAndVersions(text: string): string[] {
  return text
    .split(/\n\n+/)
    .filter((s) => s.trim() !== '')
    .map((s) => `${/^P:(.*)$/m.exec(s)?.[1]}@${/^V:(.*)$/m.exec(s)?.[1]}`);
}

describe('os-release', () => {
  it('reads KEY=value with double and single quotes, escapes and comments', () => {
    const os = parseOsRelease(
      '# comment\nNAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine \\"Linux\\" v3.20"\n\nHOME_URL=\'https://alpinelinux.org/\'\nnot an assignment\n',
    );
    assert.deepEqual(os, {
      NAME: 'Alpine Linux',
      ID: 'alpine',
      VERSION_ID: '3.20.3',
      PRETTY_NAME: 'Alpine "Linux" v3.20',
      HOME_URL: 'https://alpinelinux.org/',
    });
  });
});

describe('inventory from /lib/apk/db/installed', { skip }, () => {
  it('lists every package of the real Alpine 3.16 database with dependencies, checksums and files', async () => {
    const text = await readFile(fixture('apk', 'alpine-v3.16-aarch64-lib-apk-db-installed.txt'), 'utf8');
    const inv = inventoryFromApkDatabase(text, 'ID=alpine\nVERSION_ID=3.16.2\nPRETTY_NAME="Alpine Linux v3.16"\n', image);
    assert.deepEqual(inv.distro, { id: 'alpine', versionId: '3.16.2', prettyName: 'Alpine Linux v3.16' });
    assert.deepEqual(
      inv.packages.map((p) => `${p.name}@${p.version}`),
      namesAndVersions(text),
    );
    assert.equal(inv.packages.length, 14);
    const byName = new Map(inv.packages.map((p) => [p.name, p]));
    // "D:alpine-baselayout-data=3.2.0-r22 /bin/sh so:libc.musl-aarch64.so.1": a versioned name, a
    // path busybox provides and a shared object musl provides.
    assert.deepEqual(byName.get('alpine-baselayout')?.dependsOn, ['alpine-baselayout-data', 'busybox', 'musl']);
    // "D:musl>=1.2 ca-certificates-bundle so:…": operators stripped.
    assert.deepEqual(byName.get('apk-tools')?.dependsOn, ['ca-certificates-bundle', 'libcrypto1.1', 'libssl1.1', 'musl', 'zlib']);
    const busybox = byName.get('busybox');
    assert.equal(busybox?.source, 'busybox');
    assert.equal(busybox?.supplier, 'Sören Tempel <soeren+alpine@soeren-tempel.net>');
    assert.equal(busybox?.arch, 'aarch64');
    // C:Q1… (the SHA-1 of the control section) is the package's identity, not its checksum: the
    // database records no checksum of the .apk, so the inventory gives none.
    const c = /P:busybox\n(?:.*\n)*?C:(Q1.*)|C:(Q1.*)\nP:busybox/.exec(text);
    assert.equal(busybox?.identity, c?.[1] ?? c?.[2]);
    assert.deepEqual(busybox?.checksums, {});
    const bin = busybox?.files?.find((f) => f.path === '/bin/busybox');
    assert.ok(bin?.sha1 !== undefined && /^[0-9a-f]{40}$/.test(bin.sha1), 'the Z: checksum of /bin/busybox');
    assert.equal(byName.get('libc-utils')?.files?.length, 0);
  });

  it('lists the Wolfi database apko writes, resolving so: names through provides and skipping conflicts', async () => {
    const text = await readFile(fixture('apk', 'apko-generated-wolfi-base-installed.txt'), 'utf8');
    const inv = inventoryFromApkDatabase(text, 'ID=wolfi\nNAME="Wolfi"\nPRETTY_NAME="Wolfi"\nVERSION_ID="20230201"\n', image);
    assert.deepEqual(
      inv.packages.map((p) => `${p.name}@${p.version}`),
      namesAndVersions(text),
    );
    const byName = new Map(inv.packages.map((p) => [p.name, p]));
    // "D:!musl glibc-locale-posix libgcc merged-lib … so:ld-linux-x86-64.so.2 wolfi-baselayout"
    const glibc = byName.get('glibc');
    assert.ok(glibc !== undefined);
    assert.ok(!glibc.dependsOn.includes('musl'));
    assert.ok(glibc.dependsOn.includes('ld-linux'));
    assert.ok(glibc.dependsOn.includes('wolfi-baselayout'), 'merged-lib is provided by wolfi-baselayout');
    assert.deepEqual(byName.get('libgcc')?.dependsOn, ['glibc', 'ld-linux']);
    assert.equal(byName.get('libgcc')?.license, 'GPL-3.0-or-later WITH GCC-exception-3.1');
    for (const p of inv.packages) assert.ok(!p.dependsOn.includes(p.name), `${p.name} does not depend on itself`);
  });

  it('pairs each Z: with its R: even when an a: line comes between', () => {
    const text =
      'C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:x\nV:1-r0\nF:etc\nR:a\na:0:0:0600\nZ:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nR:b\nF:usr/bin\nR:c\nZ:X1ffffffffffffffffffffffffffffffffffffffff\n';
    const inv = inventoryFromApkDatabase(text, '', image);
    assert.deepEqual(inv.packages[0]?.files, [
      { path: '/etc/a', sha1: '0'.repeat(40) },
      { path: '/etc/b' },
      { path: '/usr/bin/c', sha1: 'f'.repeat(40) },
    ]);
    assert.deepEqual(inv.distro, { id: '', versionId: '', prettyName: '' });
  });

  it('refuses a database that is not in the APKINDEX format', () => {
    assert.throws(
      () => inventoryFromApkDatabase('P:x\nthis is not a field\n', '', image),
      (e) => isProvenantError(e, 'INVALID_PACKAGE'),
    );
  });
});

const STATUS = `Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system.
 .
 It also contains several important miscellaneous files.
Homepage: https://example.org/base-files

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4
Maintainer: GNU Libc Maintainers <glibc-maintainers@example.org>
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
Homepage: https://www.gnu.org/software/libc/libc.html

Package: libgcc-s1
Status: install ok installed
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14
Depends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)
Description: GCC support library

Package: gcc-12-base
Status: install ok installed
Architecture: amd64
Source: gcc-12
Version: 12.2.0-14
Description: GCC, the GNU Compiler Collection (base package)

Package: mawk
Status: install ok installed
Architecture: amd64
Version: 1.3.4.20200120-3.1
Provides: awk
Pre-Depends: libc6 (>= 2.34)
Description: Pattern scanning and text processing language

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
Depends: debconf (>= 0.5) | debconf-2.0, gawk | awk:any
Description: time zone and daylight-saving time data

Package: attr
Status: install ok installed
Architecture: amd64
Version: 1:2.5.1-4
Depends: libattr1 (>= 1:2.4.48)
Description: utilities for manipulating filesystem extended attributes

Package: old-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
Description: removed, configuration left
`;

describe('inventory from dpkg status', () => {
  it('lists installed packages with source, maintainer, homepage and resolved Depends', () => {
    const inv = inventoryFromDpkgStatus(STATUS, 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n', image);
    assert.deepEqual(inv.distro, { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
    assert.deepEqual(
      inv.packages.map((p) => `${p.name}@${p.version}`),
      [
        'base-files@12.4+deb12u5',
        'libc6@2.36-9+deb12u4',
        'libgcc-s1@12.2.0-14',
        'gcc-12-base@12.2.0-14',
        'mawk@1.3.4.20200120-3.1',
        'tzdata@2024a-0+deb12u1',
        'attr@1:2.5.1-4',
      ],
    );
    const byName = new Map(inv.packages.map((p) => [p.name, p]));
    const libc = byName.get('libc6');
    assert.equal(libc?.source, 'glibc');
    assert.equal(libc?.supplier, 'GNU Libc Maintainers <glibc-maintainers@example.org>');
    assert.equal(libc?.homepage, 'https://www.gnu.org/software/libc/libc.html');
    assert.equal(libc?.ecosystem, 'deb');
    assert.deepEqual(byName.get('libgcc-s1')?.dependsOn, ['gcc-12-base', 'libc6']);
    assert.deepEqual(byName.get('mawk')?.dependsOn, ['libc6'], 'Pre-Depends count');
    // "gawk | awk:any": gawk is not installed; mawk provides awk. debconf is not installed at all.
    assert.deepEqual(byName.get('tzdata')?.dependsOn, ['mawk']);
    assert.deepEqual(byName.get('attr')?.dependsOn, []);
    assert.equal(byName.get('base-files')?.description, 'Debian base system miscellaneous files');
    assert.equal(byName.get('gcc-12-base')?.source, 'gcc-12');
    // No Source field: the source package has the binary's name (Debian policy 5.6.1), as a build records it.
    assert.equal(byName.get('mawk')?.source, 'mawk');
  });

  it('lists a package whose files are on disk, even half configured, and leaves out one dpkg is to remove or has removed', () => {
    // trivy leaves out a want of deinstall or purge (syft deinstall only); a state of
    // not-installed or config-files has no files of the package left but its conffiles.
    const stanza = (name: string, status: string) => `Package: ${name}\nStatus: ${status}\nArchitecture: amd64\nVersion: 1.0\n`;
    const text = [
      stanza('installed', 'install ok installed'),
      stanza('held', 'hold ok installed'),
      stanza('unpacked', 'install ok unpacked'),
      stanza('half-configured', 'install reinstreq half-configured'),
      stanza('half-installed', 'install reinstreq half-installed'),
      stanza('awaiting', 'install ok triggers-awaited'),
      stanza('pending', 'install ok triggers-pending'),
      stanza('to-remove', 'deinstall ok installed'),
      stanza('to-purge', 'purge ok installed'),
      stanza('removed', 'deinstall ok config-files'),
      stanza('purged', 'purge ok not-installed'),
      stanza('held-absent', 'hold ok not-installed'),
      stanza('config-left', 'install ok config-files'),
    ].join('\n');
    const inv = inventoryFromDpkgStatus(text, 'ID=debian\n', image);
    assert.deepEqual(
      inv.packages.map((p) => p.name),
      ['installed', 'held', 'unpacked', 'half-configured', 'half-installed', 'awaiting', 'pending'],
    );
  });

  it('reads distroless status.d files, which have no Status field', () => {
    const files = [
      'Package: libc6\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\nSource: glibc\n',
      'Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n',
    ];
    const inv = inventoryFromDpkgStatus(files, 'ID=debian\nVERSION_ID="12"\n', image);
    assert.deepEqual(
      inv.packages.map((p) => p.name),
      ['libc6', 'tzdata'],
    );
  });

  it("takes status's entry of a package status.d lists too, a removal as well", () => {
    const files = [
      { path: 'var/lib/dpkg/status.d/foo', text: 'Package: foo\nVersion: 1.0\nArchitecture: amd64\n' },
      { path: 'var/lib/dpkg/status.d/baz', text: 'Package: baz\nVersion: 1.0\nArchitecture: amd64\n' },
      {
        path: 'var/lib/dpkg/status',
        text: [
          'Package: foo\nStatus: deinstall ok config-files\nVersion: 1.0\nArchitecture: amd64\n',
          'Package: baz\nStatus: install ok installed\nVersion: 1.1\nArchitecture: amd64\n',
          'Package: bar\nStatus: install ok installed\nVersion: 2\nArchitecture: amd64\n',
        ].join('\n'),
      },
    ];
    const inv = inventoryFromDpkgStatus(files, 'ID=debian\n', image);
    assert.deepEqual(
      inv.packages.map((p) => `${p.name} ${p.version}`),
      ['baz 1.1', 'bar 2'],
    );
  });

  it('parses control stanzas with continuation lines and refuses malformed ones', () => {
    const stanzas = parseControlStanzas('Package: a\nDescription: one\n two\n\n\nPackage: b\n', 'x');
    assert.deepEqual(stanzas, [{ package: 'a', description: 'one\ntwo' }, { package: 'b' }]);
    assert.throws(
      () => parseControlStanzas(' leading continuation\n', 'status'),
      (e) => isProvenantError(e, 'INVALID_PACKAGE') && e.where === 'status:1',
    );
    assert.throws(
      () => parseControlStanzas('Package: a\nno colon here\n', 'status'),
      (e) => isProvenantError(e, 'INVALID_PACKAGE') && e.where === 'status:2',
    );
  });
});

// The SHA-1 apk writes for files, checked once against a file of the golden layer, so the
// conversion from Q1 base64 to hex is known to match the content.
describe('apk file checksums', { skip }, () => {
  it('match the content of the file in the layer', async () => {
    const { gunzipSync } = await import('node:zlib');
    const { readTar } = await import('../../src/archive/tar.ts');
    const layer = gunzipSync(await readFile(fixture('apk', 'apkotest-golden-amd64-layer.tar.gz')));
    const bodies = new Map<string, Uint8Array>();
    for await (const entry of readTar([new Uint8Array(layer)])) {
      const chunks: Uint8Array[] = [];
      for await (const c of entry.body) chunks.push(c);
      bodies.set(entry.header.name.replace(/^\.?\//, ''), Buffer.concat(chunks));
    }
    const installed = new TextDecoder().decode(bodies.get('usr/lib/apk/db/installed'));
    const inv = inventoryFromApkDatabase(installed, new TextDecoder().decode(bodies.get('etc/os-release')), image);
    const osRelease = inv.packages.flatMap((p) => p.files ?? []).find((f) => f.path === '/etc/os-release');
    const body = bodies.get('etc/os-release');
    assert.ok(osRelease !== undefined && body !== undefined);
    assert.equal(osRelease.sha1, createHash('sha1').update(body).digest('hex'));
  });
});
