/**
 * Whether the packages a provenance names meet what its configuration asks for. A rebuild builds
 * from the provenance's package entries as a lock that vouches for itself (the repository's
 * index is not read), and such a build installs what the lock holds: a request no entry meets
 * would be left out without a word, and the rebuild then compared as an image that lost it.
 * `build --lock` refuses that lock ("no locked package meets", ../builder/plan.ts); a rebuild
 * refuses that provenance the same way, as not replayable.
 */
import { lookupArch } from '../builder/arch.ts';
import type { LoadedConfig } from '../builder/config-types.ts';
import type { Lock } from '../builder/lock.ts';
import type { Logger } from '../io/types.ts';
import { type Candidate, candidateMeets, packageSatisfies } from '../pkg/resolve/resolve.ts';
import type { LockedPackage } from '../pkg/source.ts';
import { openPackageSource } from '../pkg/sources.ts';

/** What {@link unmetRequests} reads. */
export interface RequestCheck {
  loaded: LoadedConfig;
  configPath: string;
  baseDir: string;
  keyring: Lock['contents']['keyring'];
  /** The architectures rebuilt (apk's spelling). */
  archs: readonly string[];
  /** The package entries, as fetched (their `url` the file on this machine). */
  locked: readonly LockedPackage[];
  signal?: AbortSignal | undefined;
  logger: Logger;
}

/**
 * Each request of `contents.packages` that no package entry of an architecture meets, as
 * `tool (x86_64)`; empty when every one is met. A request is met by an entry of its name (and
 * version, for a constrained one) or, as the resolver has it, by one that provides it: what a
 * package provides is in its file alone, so the files are read only for a request no name meets
 * (`so:libc.musl-x86_64.so.1`, a virtual name). A source that cannot say what a file provides
 * (Debian's: only a Release vouches for a .deb) leaves such a request unjudged rather than
 * refuse a provenance that may be whole. `!name` requests are not checked: nothing is missing.
 */
export async function unmetRequests(check: RequestCheck): Promise<string[]> {
  const { loaded, locked } = check;
  const source = await openPackageSource({
    ...loaded.config.contents,
    timezone: loaded.config.timezone,
    lockedKeys: check.keyring,
    lockVouches: true,
    configPath: check.configPath,
    baseDir: check.baseDir,
    cache: undefined,
    signal: check.signal,
    logger: check.logger,
  });
  const scheme = source.versionScheme;
  const provided = new Map<LockedPackage, Candidate>();
  const unmet: string[] = [];
  for (const arch of check.archs) {
    const mine = locked.filter((p) => p.architecture === arch || lookupArch(p.architecture) === arch);
    for (const [i, text] of loaded.config.contents.packages.entries()) {
      const request = source.request(text, `contents.packages[${i}]`, arch);
      if (request.conflict === true) continue;
      const { constraint } = request;
      const named = mine.some(
        (p) => p.name === request.name && (constraint === undefined || packageSatisfies(scheme, p.checksum, p.version, constraint)),
      );
      if (named) continue;
      const candidateOf = source.fetchedCandidate?.bind(source);
      if (candidateOf === undefined) continue;
      for (const p of mine) {
        if (!provided.has(p)) provided.set(p, candidateOf(await source.fetch(p)));
      }
      if (mine.some((p) => candidateMeets(provided.get(p) as Candidate, request, scheme))) continue;
      unmet.push(`${text} (${arch})`);
    }
  }
  return unmet;
}
