/**
 * The package sources Provenant knows, and which one a configuration's repositories name. A new
 * ecosystem is a {@link PackageSource} and one entry here; the builder does not change.
 */
import { ProvenantError } from '../errors.ts';
import type { PackageSource, PackageSourceOptions } from './source.ts';

/** A Debian source's one-line entry (`deb [options] URL SUITE COMPONENT...`), not an apk repository. */
export function isDebianLine(line: string): boolean {
  return /^\s*deb\s/.test(line);
}

/** A kind of repository line, and how to open the source it names. */
interface SourceKind {
  /** What the lines are called, for errors: `Debian sources`. */
  readonly lines: string;
  /** True when a `contents.repositories` line is of this kind. */
  claims(line: string): boolean;
  open(options: PackageSourceOptions): Promise<PackageSource>;
}

/**
 * In the order they are tried; the last takes any line (and a configuration with none). Each
 * source's modules are loaded when it is opened: a build reads one kind of repository.
 */
const KINDS: readonly SourceKind[] = [
  // One-line sources.list style: `deb [options] URL SUITE COMPONENT...`.
  {
    lines: 'Debian sources',
    claims: isDebianLine,
    open: async (o) => new (await import('./deb/source.ts')).DebRepositorySource(o),
  },
  // `URL` or `@tag URL`.
  { lines: 'apk repositories', claims: () => true, open: async (o) => (await import('./apk/source.ts')).openApkSource(o) },
];

/**
 * Opens the source the configuration's repositories name. One image takes packages from one
 * kind of repository.
 *
 * @throws ProvenantError `INVALID_CONFIG` when the repositories mix kinds; as the source's opening
 *   (a key that cannot be read, a malformed Debian source)
 */
export async function openPackageSource(options: PackageSourceOptions): Promise<PackageSource> {
  // build_repositories are read as repositories are, so they must be of the same kind.
  const lines = [...options.repositories, ...(options.buildRepositories ?? [])];
  const kinds = KINDS.filter((k) => lines.some((line) => KINDS.find((c) => c.claims(line)) === k));
  if (kinds.length > 1) {
    throw new ProvenantError(
      'INVALID_CONFIG',
      `contents.repositories mixes ${kinds.map((k) => k.lines).join(' and ')}; one image takes packages from one kind`,
      { hint: `build the ${kinds.map((k) => k.lines.split(' ')[0]).join(' and the ')} parts as separate images` },
    );
  }
  const kind = kinds[0] ?? (KINDS[KINDS.length - 1] as SourceKind);
  return kind.open(options);
}
