// Package URLs for apk and deb packages.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../src/errors.ts';
import type { InventoryPackage } from '../../src/pkg/inventory.ts';
import { inventoryDistro } from '../../src/sbom/from-image.ts';
import {
  distroQualifier,
  formatPackageUrl,
  imagePackageUrl,
  type PackageUrlParts,
  packageUrl,
  percentEncode,
} from '../../src/sbom/purl.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';

/**
 * A small PURL parser, written from purl-spec's docs/how-to-parse.md, to check that what
 * formatPackageUrl writes reads back as the same parts.
 */
function parsePurl(text: string): PackageUrlParts {
  assert.ok(text.startsWith('pkg:'), text);
  let rest = text.slice(4);
  let subpath: string | undefined;
  const hash = rest.indexOf('#');
  if (hash !== -1) {
    subpath = rest
      .slice(hash + 1)
      .split('/')
      .map((s) => decodeURIComponent(s))
      .join('/');
    rest = rest.slice(0, hash);
  }
  let qualifiers: Record<string, string> | undefined;
  const question = rest.indexOf('?');
  if (question !== -1) {
    qualifiers = {};
    for (const pair of rest.slice(question + 1).split('&')) {
      const eq = pair.indexOf('=');
      qualifiers[pair.slice(0, eq).toLowerCase()] = decodeURIComponent(pair.slice(eq + 1));
    }
    rest = rest.slice(0, question);
  }
  let version: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    version = decodeURIComponent(rest.slice(at + 1));
    rest = rest.slice(0, at);
  }
  const segments = rest.split('/');
  const type = (segments.shift() ?? '').toLowerCase();
  const name = decodeURIComponent(segments.pop() ?? '');
  const namespace = segments.length === 0 ? undefined : segments.map((s) => decodeURIComponent(s)).join('/');
  return { type, namespace, name, version, qualifiers, subpath };
}

const pkg = (over: Partial<InventoryPackage>): InventoryPackage => ({
  ecosystem: 'apk',
  name: 'busybox',
  version: '1.36.1-r2',
  arch: 'x86_64',
  license: 'GPL-2.0-only',
  source: 'busybox',
  supplier: '',
  homepage: '',
  description: '',
  checksums: {},
  dependsOn: [],
  ...over,
});

const CANONICAL = /^pkg:[a-z][a-z0-9.+-]*\/[A-Za-z0-9.\-_~:%/@?=&#]*$/;

describe('package URLs', () => {
  it('writes apk PURLs for Alpine and Wolfi with the distro qualifier syft writes', () => {
    assert.equal(
      packageUrl(pkg({}), { id: 'alpine', versionId: '3.20.3', prettyName: '' }),
      'pkg:apk/alpine/busybox@1.36.1-r2?arch=x86_64&distro=alpine-3.20.3',
    );
    assert.equal(
      packageUrl(pkg({ name: 'ld-linux', version: '2.41-r55', source: 'glibc' }), {
        id: 'wolfi',
        versionId: '20230201',
        prettyName: 'Wolfi',
      }),
      'pkg:apk/wolfi/ld-linux@2.41-r55?arch=x86_64&distro=wolfi-20230201&upstream=glibc',
    );
    // No os-release: the namespace is required, so it is "unknown", and there is no distro qualifier.
    assert.equal(packageUrl(pkg({}), { id: '', versionId: '', prettyName: '' }), 'pkg:apk/unknown/busybox@1.36.1-r2?arch=x86_64');
    // The os-release a build writes when no package gives one (and apko's placeholder) says
    // ID=unknown: no distribution either, so no distro qualifier for a scanner to match on.
    const unknown = inventoryDistro('ID=unknown\nNAME="Provenant-built image"\n');
    assert.equal(packageUrl(pkg({}), unknown), 'pkg:apk/unknown/busybox@1.36.1-r2?arch=x86_64');
    assert.equal(packageUrl(pkg({}), { ...unknown, id: 'Unknown', versionId: 'unknown' }), 'pkg:apk/unknown/busybox@1.36.1-r2?arch=x86_64');
  });

  it('writes deb PURLs with epochs kept and "+" encoded, qualifiers sorted', () => {
    const libc = pkg({ ecosystem: 'deb', name: 'libc6', version: '2.36-9+deb12u4', arch: 'amd64', source: 'glibc' });
    assert.equal(
      packageUrl(libc, { id: 'debian', versionId: '12', prettyName: '' }),
      'pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc',
    );
    // ECMA-427 / purl-spec: the colon is never percent-encoded, so an epoch stays "1:".
    const attr = pkg({ ecosystem: 'deb', name: 'attr', version: '1:2.5.1-4', arch: 'amd64', source: 'attr' });
    assert.equal(
      packageUrl(attr, { id: 'debian', versionId: '12', prettyName: '' }),
      'pkg:deb/debian/attr@1:2.5.1-4?arch=amd64&distro=debian-12',
    );
    assert.equal(
      packageUrl(pkg({ ecosystem: 'deb', name: 'libstdc++6', version: '12.2.0-14', arch: 'amd64', source: 'gcc-12' }), {
        id: 'Debian',
        versionId: '12',
        prettyName: '',
      }),
      'pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64&distro=debian-12&upstream=gcc-12',
    );
    // A source version apart from the package's: the epoch of bsdutils is not util-linux's.
    const bsdutils = pkg({
      ecosystem: 'deb',
      name: 'bsdutils',
      version: '1:2.38.1-5+deb12u3',
      arch: 'amd64',
      source: 'util-linux',
      sourceVersion: '2.38.1-5+deb12u3',
    });
    assert.equal(
      packageUrl(bsdutils, { id: 'debian', versionId: '12', prettyName: '' }),
      'pkg:deb/debian/bsdutils@1:2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12&upstream=util-linux%402.38.1-5%2Bdeb12u3',
    );
  });

  it('lowercases apk and deb names, as their type definitions say', () => {
    assert.equal(
      packageUrl(pkg({ name: 'Py3-Foo', source: 'py3-foo' }), { id: 'alpine', versionId: '', prettyName: '' }),
      'pkg:apk/alpine/py3-foo@1.36.1-r2?arch=x86_64&distro=alpine',
    );
  });

  it('encodes per RFC 3986 over UTF-8 with the purl allowed set', () => {
    assert.equal(percentEncode('a b/c@d?e=f&g#h+i%j:k~l_m.n-o'), 'a%20b%2Fc%40d%3Fe%3Df%26g%23h%2Bi%25j:k~l_m.n-o');
    assert.equal(percentEncode('é'), '%C3%A9');
    assert.equal(distroQualifier({ id: 'alpine', versionId: '', prettyName: '' }), 'alpine');
  });

  it('writes OCI PURLs like apko: name, digest with its colon, platform qualifiers', { skip: fixturesMissing }, async () => {
    const image = {
      name: 'golden',
      digest: 'sha256:69f0237c7f8cf0b8a329d1bf1d6870c870c4ec323e39d3a6da59596632d0f2f4',
      architecture: 'amd64',
      os: 'linux',
    };
    const ours = imagePackageUrl(image, { mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    const golden = JSON.parse(await readFile(fixture('apk', 'apkotest-golden-sbom-x86_64.spdx.json'), 'utf8'));
    const apko = golden.packages[0].externalRefs[0].referenceLocator as string;
    // apko spells the key "mediaType"; the spec's canonical form of a key is lowercase.
    assert.deepEqual(parsePurl(ours), parsePurl(apko));
    assert.equal(imagePackageUrl(image), `pkg:oci/golden@${image.digest}?arch=amd64&os=linux`);
    assert.equal(
      imagePackageUrl({ ...image, name: 'registry.example/Acme/Tools:v1', variant: 'v8', architecture: 'arm64' }),
      `pkg:oci/tools@${image.digest}?arch=arm64&os=linux&repository_url=registry.example%2FAcme%2FTools&tag=v1&variant=v8`,
    );
  });

  it('rejects what cannot be a PURL', () => {
    const bad = (parts: PackageUrlParts) =>
      assert.throws(
        () => formatPackageUrl(parts),
        (e) => isProvenantError(e, 'INVALID_PACKAGE'),
      );
    bad({ type: 'apk', name: '' });
    bad({ type: 'Apk', name: 'x' });
    bad({ type: 'apk', name: 'x', qualifiers: { Arch: 'x86_64' } });
  });

  it('round-trips every component through a parser, and writes only permitted characters', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 12 });
    const segment = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).filter((s) => !s.includes('/') && s !== '.' && s !== '..');
    const parts = fc.record({
      type: fc.stringMatching(/^[a-z][a-z0-9.+-]{0,6}$/),
      namespace: fc.option(fc.array(segment, { minLength: 1, maxLength: 3 }), { nil: undefined }),
      name: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
      version: fc.option(text, { nil: undefined }),
      qualifiers: fc.option(fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9._-]{0,6}$/), text, { maxKeys: 4 }), { nil: undefined }),
      subpath: fc.option(fc.array(segment, { minLength: 1, maxLength: 3 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(parts, (p) => {
        const input: PackageUrlParts = { ...p, namespace: p.namespace?.join('/'), subpath: p.subpath?.join('/') };
        const written = formatPackageUrl(input);
        assert.match(written, CANONICAL);
        const back = parsePurl(written);
        const qualifiers = Object.fromEntries(Object.entries(p.qualifiers ?? {}).filter(([, v]) => v !== ''));
        assert.deepEqual(back, {
          type: p.type,
          namespace: input.namespace,
          name: p.name,
          version: p.version === '' ? undefined : p.version,
          qualifiers: Object.keys(qualifiers).length === 0 ? undefined : qualifiers,
          subpath: input.subpath,
        });
        // Qualifiers come out sorted by key.
        const keys = Object.keys(back.qualifiers ?? {});
        assert.deepEqual(keys, [...keys].sort());
      }),
      { numRuns: 500 },
    );
  });
});
