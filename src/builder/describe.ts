/**
 * Describing a build: per platform image, SBOMs (SPDX 2.3 and CycloneDX 1.6, from what the
 * build installed) and SLSA provenance, as in-toto statements ready for any attestation storage.
 */
import { dirname } from 'node:path';
import { type ProvenanceInput, provenance } from '../attest/provenance.ts';
import { type Attested, type StatementBlob, statement } from '../attest/storage.ts';
import type { Logger, OperationOptions } from '../io/types.ts';
import { digestOf } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';
import { apkoImageSbom, apkoIndexSbom, apkoSbomLeavesOut, warnApkoSbomLeavesOut } from '../sbom/apko-spdx.ts';
import { cyclonedxDocument } from '../sbom/cyclonedx.ts';
import { registryImageName } from '../sbom/purl.ts';
import { spdxDocument, spdxIndexDocument } from '../sbom/spdx.ts';
import type { ContentStore } from '../store/types.ts';
import { formatTimestamp } from '../time.ts';
import type { BuildResult } from './build.ts';
import { portableConfigFiles } from './config.ts';
import { inventoryOf } from './inventory.ts';

/** From ../attest/provenance.ts, for the CLI (cli/builder.ts), which then loads only this module to describe a build. */
export { builderIdFromEnv, invocationFromEnv } from '../attest/provenance.ts';

/** The predicate types of the SBOM statements. */
export const SPDX_PREDICATE = 'https://spdx.dev/Document';
export const CYCLONEDX_PREDICATE = 'https://cyclonedx.org/bom';

/** Options of {@link describeBuild}. */
export interface DescribeOptions {
  /**
   * The image's name for SBOM documents and statement subjects, used as given: for an image
   * written to a registry, its repository without the tag, as `provenant build` and the Action
   * name it (`statementImageName` in ../ref/reference.ts: `registry.example/team/app`, not
   * `registry.example/team/app:1`), so that another tag of the same build gives the same
   * statements.
   */
  imageName: string;
  /** The configuration file's path, for provenance paths. */
  configPath: string;
  toolVersion: string;
  sourceDateEpoch?: number | undefined;
  /** Write SBOMs (default true). */
  sbom?: boolean | undefined;
  /** List each package's files in the SBOMs (not in an apko-compatible build's: `logger` is told). */
  sbomFiles?: boolean | undefined;
  /**
   * Told what the SBOMs leave out: the files of a package not all known by SHA-1, every file
   * when `sbomFiles` meets an apko-compatible build, and the packages an apko-compatible build's
   * SPDX SBOM lists none of (those that ship no SBOM of their own).
   */
  logger?: Logger | undefined;
  /** Provenance: false for none; else its mode and version. */
  provenance?: false | { mode: 'min' | 'max'; version: 'v1' | 'v0.2' } | undefined;
  builderId: string;
  invocation?: ProvenanceInput['invocation'];
  /** Whether the build read a lock the user gave. */
  fromLock: boolean;
  /**
   * The target the image is written for (`build --target`), by its label (`artifactory@6.23.38`),
   * which the provenance states: the target's fix rewrites the images, and a rebuild applies it too.
   */
  target?: string | undefined;
  /**
   * An apko-compatible build's SPDX SBOMs are apko's (../sbom/apko-spdx.ts): the tag they name
   * the image by (default `imageName` when it is a registry reference, else apko's `image`) and
   * the apko version they name as their tool (default `devel`, as in apko's golden SBOMs).
   */
  apko?: { tag?: string | undefined; version?: string | undefined } | undefined;
}

/**
 * Says which packages an apko-compatible build's SPDX SBOMs leave out, once for all platforms
 * ({@link warnApkoSbomLeavesOut}).
 */
function warnApkoLeftOut(result: BuildResult, logger: Logger | undefined): void {
  const left = new Set<string>();
  for (const image of result.images) if (image.apko !== undefined) for (const p of apkoSbomLeavesOut(image.apko)) left.add(p);
  warnApkoSbomLeavesOut(
    [...left],
    'the CycloneDX SBOM lists every package, and a build without --compat apko writes an SPDX SBOM of every package',
    logger,
  );
}

/** The tag an apko SBOM names the image by: a registry reference, not a file or layout location. */
function apkoTag(options: DescribeOptions): string | undefined {
  return options.apko?.tag ?? registryImageName(options.imageName);
}

/** The statements about each platform image, for {@link storeAttestations}. */
export function describeBuild(result: BuildResult, options: DescribeOptions): Attested[] {
  const created = formatTimestamp(options.sourceDateEpoch ?? 0);
  const base = dirname(options.configPath);
  // The same files for every platform: rewritten (each parsed again) once, not once an image.
  const configFiles = options.provenance === false ? [] : portableConfigFiles(result.configFiles, base);
  if (options.sbom !== false && options.sbomFiles === true && result.compat === 'apko') {
    // apko's SPDX documents list no files, and being apko's byte for byte is what --compat apko
    // promises; CycloneDX BOMs list none either. Said once, not left for the user to find out.
    options.logger?.warn(
      '--sbom-files has no effect with --compat apko: the SPDX SBOM is written as apko writes it, which lists no files (and CycloneDX lists none); build without --compat apko for SBOMs with files',
    );
  }
  if (options.sbom !== false) warnApkoLeftOut(result, options.logger);
  return result.images.map((image) => {
    const statements: StatementBlob[] = [];
    const subject = { name: options.imageName, digest: image.manifest.digest };
    const byproducts: ProvenanceInput['byproducts'] = [];
    if (options.sbom !== false) {
      const inventory = inventoryOf(image, options.imageName, options.sbomFiles === true);
      const spdx =
        image.apko === undefined
          ? spdxDocument(inventory, {
              created,
              toolVersion: options.toolVersion,
              withFiles: options.sbomFiles === true,
              logger: options.logger,
            })
          : JSON.parse(
              apkoImageSbom({
                ...image.apko,
                manifestDigest: image.manifest.digest,
                layers: image.layers.map((l) => ({ digest: l.digest, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' })),
                architecture: image.platform.architecture,
                tag: apkoTag(options),
                apkoVersion: options.apko?.version,
              }),
            );
      const cdx = cyclonedxDocument(inventory, { created, toolVersion: options.toolVersion });
      statements.push(statement(SPDX_PREDICATE, spdx, [subject]), statement(CYCLONEDX_PREDICATE, cdx, [subject]));
      byproducts.push(
        { name: 'sbom.spdx.json', digest: digestOf(JSON.stringify(spdx)), mediaType: 'application/spdx+json' },
        { name: 'sbom.cdx.json', digest: digestOf(JSON.stringify(cdx)), mediaType: 'application/vnd.cyclonedx+json' },
      );
    }
    if (options.provenance !== false) {
      const p = options.provenance ?? { mode: 'min', version: 'v1' };
      // Each package's own architecture, as its file says it (and the SBOM names it).
      const ownArchitecture = new Map(image.packages.map((i) => [`${i.name}\n${i.version}`, i.arch]));
      const input: ProvenanceInput = {
        ecosystem: result.ecosystem,
        configFiles,
        contents: result.contents,
        archs: result.images.map((i) => i.arch),
        sourceDateEpoch: options.sourceDateEpoch,
        compat: result.compat,
        target: options.target,
        fromLock: options.fromLock,
        // Named as the ecosystem names the architecture, as the packages' entries beside them are.
        indexes: result.indexes.filter((i) => i.arch === image.arch).map(({ archName, ...i }) => ({ ...i, arch: archName })),
        packages: image.locked.map((l) => ({
          ...l,
          kind: result.ecosystem,
          sha256: result.packageDigests.get(l.url) ?? '',
          packageArchitecture: ownArchitecture.get(`${l.name}\n${l.version}`),
        })),
        keys: result.keys,
        builderId: options.builderId,
        toolVersion: options.toolVersion,
        byproducts,
        mode: p.mode,
        invocation: options.invocation,
      };
      statements.push(provenance(input, subject, p.version));
    }
    return { manifest: image.manifest, statements };
  });
}

/**
 * The SBOM of the index itself (SPDX 2.3, in the shape of apko's `sbom-index.spdx.json`: the
 * index and each platform image), as an attestation whose subject is the index. Stored as a
 * referrer of the index; BuildKit's storage has no place for it and leaves it out (after writing
 * there, see {@link aboutWrittenIndex}).
 */
export function describeIndex(result: BuildResult, options: DescribeOptions): Attested | undefined {
  if (options.sbom === false || result.index === undefined) return undefined;
  const created = formatTimestamp(options.sourceDateEpoch ?? 0);
  const images = result.images.map((image) => ({
    inventory: inventoryOf(image, options.imageName),
    manifestDigest: image.manifest.digest,
  }));
  const apko = result.compat === 'apko';
  const doc = apko
    ? JSON.parse(
        apkoIndexSbom({
          indexDigest: result.index.digest,
          images: result.images.map((i) => ({
            arch: `${i.platform.architecture}${i.platform.variant === undefined ? '' : `/${i.platform.variant}`}`,
            digest: i.manifest.digest,
          })),
          created: Math.max(options.sourceDateEpoch ?? 0, ...result.images.map((i) => i.apko?.created ?? 0)),
          tag: apkoTag(options),
          vcsUrl: result.vcsUrl,
          apkoVersion: options.apko?.version,
        }),
      )
    : spdxIndexDocument(images, result.index.digest, { created, toolVersion: options.toolVersion });
  return {
    manifest: result.index,
    statements: [statement(SPDX_PREDICATE, doc, [{ name: options.imageName, digest: result.index.digest }])],
  };
}

/** What {@link aboutWrittenIndex} makes of a build's statements. */
export interface WrittenIndexStatements {
  /** The statements to store and sign: those about a manifest written in place of a built one, about the one written. */
  attested: Attested[];
  /**
   * The SBOM of the built index, left out: unsigned, BuildKit's storages have no place for a
   * statement about the index. The caller says so (in its own words: a flag or an input).
   */
  left: Attested | undefined;
}

/**
 * `attested` with the index's SBOM about the index `written` in place of the built one (which a
 * store in BuildKit's storages never holds: writeBuild writes the built index with the
 * attestation entries added). BuildKit's storages attach statements to platform images only, and
 * an index cannot list a statement about itself (listing it changes the index's digest): signed,
 * the SBOM is a bundle referrer of the written index, as referrers storage writes it (the Action
 * alone stores it in the index's `.att` image instead, where a target refuses that); unsigned, it
 * has no place in the mode and is returned as `left`. Nothing changes when `written` is the built index.
 *
 * A fix for a target (`build --target`) may write platform images of its own too, Docker media
 * types for one: `replaced` maps each built image's digest to the one written in its place (the
 * fix's `renamed`). Signed, the statements about such an image are made again about the image
 * written, and the index's SBOM names the images written: this build made them, and signs what it
 * says of them. `build --target` without a signer asks for them the same way (`signed: true`)
 * while its fix runs, which attaches them unsigned where the target takes them (cli/compat.ts);
 * after the fix, unsigned, they stay out of what is returned: the fix carried them, or its account
 * says why not. A written image that is no index (Lambda takes one platform's manifest) gets no
 * index SBOM.
 */
export async function aboutWrittenIndex(
  store: ContentStore,
  written: Descriptor,
  result: BuildResult,
  attested: readonly Attested[],
  options: DescribeOptions & { signed: boolean; replaced?: ReadonlyMap<string, string> | undefined } & Pick<OperationOptions, 'signal'>,
): Promise<WrittenIndexStatements> {
  const built = result.index?.digest;
  if (built === undefined || written.digest === built) return { attested: [...attested], left: undefined };
  const replaced = options.replaced ?? new Map<string, string>();
  const left = attested.find((a) => a.manifest.digest === built);
  const stale = (a: Attested): boolean => a.manifest.digest === built || replaced.has(a.manifest.digest);
  const others = attested.filter((a) => !stale(a));
  if (!options.signed) return { attested: others, left };
  // Described again from the build with the manifests written in its place; said once already
  // (what the SBOMs leave out), so not said again.
  const describe: DescribeOptions = { ...options, logger: undefined };
  const images = await Promise.all(
    result.images.map(async (image) => {
      const to = replaced.get(image.manifest.digest);
      if (to === undefined) return image;
      const manifest = await store.getManifest(to, { signal: options.signal });
      // The SBOMs name the layers by digest: an image whose layers were recompressed is not this
      // build's to describe (a build writes gzip, which no fix recompresses).
      const layers = manifest.kind === 'manifest' ? manifest.manifest.layers.map((l) => l.digest) : [];
      return layers.join() === image.layers.map((l) => l.digest).join() ? { ...image, manifest } : image;
    }),
  );
  const made = new Set(images.filter((i, n) => i !== result.images[n]).map((i) => i.manifest.digest));
  const again = made.size === 0 ? [] : describeBuild({ ...result, images }, describe).filter((a) => made.has(a.manifest.digest));
  // No index SBOM when nothing is about the built index (no SBOM asked for, or already about the
  // index written: an earlier destination of the same build), when what was written is no index,
  // or when it would name an image that could not be described again.
  const index = await store.getManifest(written.digest, { signal: options.signal });
  const undescribed = images.some((i) => replaced.has(i.manifest.digest));
  const about =
    left === undefined || index.kind !== 'index' || undescribed ? undefined : describeIndex({ ...result, images, index }, describe);
  return { attested: [...others, ...again, ...(about === undefined ? [] : [about])], left: undefined };
}
