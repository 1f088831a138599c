/**
 * CycloneDX 1.6 JSON documents for an image, written from an {@link Inventory}. Deterministic like
 * the SPDX writer: the same inventory and options give the same JSON, byte for byte.
 *
 * The format: https://cyclonedx.org/docs/1.6/json/ and its schema
 * (CycloneDX/specification, schema/bom-1.6.schema.json).
 */
import { createHash } from 'node:crypto';
import { parseDebVersion } from '../pkg/deb/version.ts';
import type { Inventory, InventoryPackage } from '../pkg/inventory.ts';
import { compareStrings, imagePackageUrl } from './purl.ts';
import { licenseRefSpelling, namedChecksums, packageLicenseExpression, preparePackages, sbomTimestamp } from './spdx.ts';

/** Options of {@link cyclonedxDocument}. */
export interface CycloneDxOptions {
  /** When the SBOM was made, ISO 8601; from `SOURCE_DATE_EPOCH` (see `timestampFromEpoch`). */
  created: string;
  /** Provenant's version, for `metadata.tools`. */
  toolVersion: string;
}

/** A hash as CycloneDX writes it. */
export interface CycloneDxHash {
  alg: string;
  content: string;
}

/** A CycloneDX 1.6 component, with the fields Provenant writes. */
export interface CycloneDxComponent {
  type: 'application' | 'library' | 'container' | 'operating-system';
  'bom-ref'?: string;
  supplier?: { name: string };
  name: string;
  version?: string;
  description?: string;
  hashes?: CycloneDxHash[];
  licenses?: ({ expression: string } | { license: { name: string } })[];
  purl?: string;
  externalReferences?: { type: string; url: string }[];
  properties?: { name: string; value: string }[];
}

/** A CycloneDX 1.6 JSON BOM as Provenant writes it. */
export interface CycloneDxDocument {
  $schema: string;
  bomFormat: 'CycloneDX';
  specVersion: '1.6';
  serialNumber: string;
  version: 1;
  metadata: {
    timestamp: string;
    tools: { components: CycloneDxComponent[] };
    component: CycloneDxComponent;
  };
  components: CycloneDxComponent[];
  dependencies: { ref: string; dependsOn: string[] }[];
}

/** RFC 4122's namespace for URLs, the namespace of Provenant's name-based serial numbers. */
const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

/** An RFC 4122 version 5 (SHA-1, name-based) UUID. */
function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const bytes = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A package's license as CycloneDX states it: an SPDX expression of licenses on the SPDX License
 * List and `LicenseRef-`s (see packageLicenseExpression: `Zlib AND custom` keeps `Zlib`) as
 * `expression`; anything else, and a license that is one name the list lacks (`custom`), by
 * `license.name` (`license.id` takes listed ids only; a BOM defines no LicenseRef, so the name
 * alone says more than `LicenseRef-custom`).
 */
function expressionOf(
  pkg: InventoryPackage,
  license: string,
  spell: (expression: string) => string,
): NonNullable<CycloneDxComponent['licenses']> {
  const parsed = packageLicenseExpression(pkg);
  if (parsed === undefined || parsed.named.has(parsed.expression)) return [{ license: { name: license } }];
  return [{ expression: spell(parsed.expression) }];
}

/**
 * The source package in the properties trivy reads from a CycloneDX component
 * (aquasecurity/trivy pkg/sbom/io/decode.go, `fillPkgFieldsFromComponentProps`). Trivy looks
 * Debian and Alpine advisories up by the source package's name and compares its version; without
 * these it takes the binary package for its own source, so `trivy sbom` misses every advisory
 * filed against glibc for libc6. Our own `provenant:package:source` means nothing to it.
 *
 * Written as trivy's own dpkg and apk analyzers fill them: for deb the source version split into
 * `SrcVersion` (upstream), `SrcRelease` (revision) and `SrcEpoch` (only when not 0, as trivy
 * omits it); for apk the whole version in `SrcVersion`. The source version is the package's own
 * when the package names none. A Debian version dpkg would refuse stays whole in `SrcVersion`,
 * which trivy's comparison reads the same way. `PkgType` is left out: trivy reads it only for
 * applications, never for a package.
 */
function trivySourceProperties(pkg: InventoryPackage): { name: string; value: string }[] {
  if (pkg.source === '') return [];
  const version = pkg.sourceVersion ?? pkg.version;
  const props = [{ name: 'aquasecurity:trivy:SrcName', value: pkg.source }];
  if (version === '') return props;
  if (pkg.ecosystem !== 'deb') return [...props, { name: 'aquasecurity:trivy:SrcVersion', value: version }];
  let split: ReturnType<typeof parseDebVersion>;
  try {
    split = parseDebVersion(version);
  } catch {
    return [...props, { name: 'aquasecurity:trivy:SrcVersion', value: version }];
  }
  return [
    ...props,
    { name: 'aquasecurity:trivy:SrcVersion', value: split.upstream },
    ...(split.revision === '' ? [] : [{ name: 'aquasecurity:trivy:SrcRelease', value: split.revision }]),
    ...(split.epoch === 0 ? [] : [{ name: 'aquasecurity:trivy:SrcEpoch', value: String(split.epoch) }]),
  ];
}

function isUrl(text: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(text) && URL.canParse(text);
}

/**
 * The CycloneDX 1.6 BOM of one image: `metadata.component` is the image (type `container`, its
 * OCI PURL as `bom-ref`), `components` its operating system (`operating-system`) and each
 * installed package (`library`, its PURL as `bom-ref`, licenses, hashes, supplier, and the source
 * package as the property `provenant:package:source`, and again in the `aquasecurity:trivy:Src*`
 * properties scanners read). `dependencies` has an entry for every
 * component: the image depends on everything it holds, packages on the packages they need.
 *
 * `serialNumber` is a version 5 UUID of the image digest and a hash of the rest of the BOM, so
 * it is reproducible yet changes with the content.
 *
 * @throws ProvenantError `USAGE` for a bad `created`; `INVALID_PACKAGE` when two packages share a PURL
 */
export function cyclonedxDocument(inventory: Inventory, options: CycloneDxOptions): CycloneDxDocument {
  const { image, distro } = inventory;
  const prepared = preparePackages(inventory);
  const imageRef = imagePackageUrl(image);
  const imageHex = /^sha256:([0-9a-f]{64})$/.exec(image.digest)?.[1];
  const osName = distro.id === '' ? 'unknown' : distro.id;
  const osRef = `os:${osName}${distro.versionId === '' ? '' : `@${distro.versionId}`}`;
  const components: CycloneDxComponent[] = [
    {
      type: 'operating-system',
      'bom-ref': osRef,
      name: osName,
      ...(distro.versionId === '' ? {} : { version: distro.versionId }),
      ...(distro.prettyName === '' ? {} : { description: distro.prettyName }),
    },
  ];
  // Each LicenseRef spelled one way in every expression, as in the SPDX document.
  const spell = licenseRefSpelling(prepared.map((p) => packageLicenseExpression(p.pkg)?.expression ?? ''));
  for (const { pkg, purl } of prepared) {
    const license = pkg.license.trim();
    const licenses: CycloneDxComponent['licenses'] =
      license === '' || license === 'NONE' || license === 'NOASSERTION' ? [] : expressionOf(pkg, license, spell);
    const hashes = namedChecksums(pkg.checksums).map((c) => ({ alg: c.cyclonedx, content: c.hex }));
    const properties = [
      { name: 'provenant:package:ecosystem', value: pkg.ecosystem },
      ...(pkg.arch === '' ? [] : [{ name: 'provenant:package:arch', value: pkg.arch }]),
      ...(pkg.source === '' ? [] : [{ name: 'provenant:package:source', value: pkg.source }]),
      ...(pkg.sourceVersion === undefined ? [] : [{ name: 'provenant:package:source-version', value: pkg.sourceVersion }]),
      ...trivySourceProperties(pkg),
    ];
    const supplier = pkg.supplier.replace(/\s+/g, ' ').trim();
    components.push({
      type: 'library',
      'bom-ref': purl,
      ...(supplier === '' ? {} : { supplier: { name: supplier } }),
      name: pkg.name,
      ...(pkg.version === '' ? {} : { version: pkg.version }),
      ...(pkg.description === '' ? {} : { description: pkg.description }),
      ...(hashes.length === 0 ? {} : { hashes }),
      ...(licenses.length === 0 ? {} : { licenses }),
      purl,
      ...(isUrl(pkg.homepage) ? { externalReferences: [{ type: 'website', url: pkg.homepage }] } : {}),
      properties,
    });
  }
  const dependencies = [
    // The image holds the system, which holds its packages, as trivy writes it (trivy takes a
    // package as the system's only through that edge).
    { ref: imageRef, dependsOn: [osRef] },
    { ref: osRef, dependsOn: prepared.map((p) => p.purl).sort(compareStrings) },
    ...prepared.map((p) => ({ ref: p.purl, dependsOn: p.dependsOn.map((j) => prepared[j]?.purl ?? '').sort(compareStrings) })),
  ].sort((a, b) => compareStrings(a.ref, b.ref));
  const body = {
    metadata: {
      timestamp: sbomTimestamp(options.created),
      tools: { components: [{ type: 'application' as const, name: 'provenant', version: options.toolVersion }] },
      component: {
        type: 'container' as const,
        'bom-ref': imageRef,
        // As the purl and the SPDX document name an image without a name.
        name: image.name === '' ? 'image' : image.name,
        version: image.digest,
        ...(imageHex === undefined ? {} : { hashes: [{ alg: 'SHA-256', content: imageHex }] }),
        purl: imageRef,
        properties: [
          { name: 'provenant:image:os', value: image.os },
          { name: 'provenant:image:architecture', value: image.architecture },
          ...(image.variant === undefined ? [] : [{ name: 'provenant:image:variant', value: image.variant }]),
        ],
      },
    },
    components,
    dependencies,
  };
  const contentHash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${uuidV5(URL_NAMESPACE, `https://provenant.dev/cyclonedx/${image.digest}/${contentHash}`)}`,
    version: 1,
    ...body,
  };
}
