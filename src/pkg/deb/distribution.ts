/**
 * Which Debian release an image is, for an image without base-files: base-files is Essential, so
 * no package depends on it and neither apt nor the resolver pulls it in, yet it is what writes
 * /etc/os-release and /etc/debian_version, from which scanners tell the distribution (trivy reads
 * /etc/debian_version for Debian, syft /etc/os-release; without them trivy matches no Debian
 * advisory and the SBOM's PURLs name no distribution). The files are made here as base-files
 * writes them, from the signed Release of the configured Debian suite: its `Origin`, its
 * `Codename` and the major number of its `Version` (a point release changes neither, so a
 * rebuild from a lock after the mirror has moved on makes the same files).
 */
import type { DistributionFiles, PackageSourceOptions } from '../source.ts';
import { fetchDebianIndex } from './fetch-index.ts';
import { DEBIAN_ARCHIVE_KEYRING, LazyDebKeyring } from './keyring.ts';
import type { DebRelease } from './release.ts';
import { type DebSource, parseSourceLine } from './sources.ts';

/** A Debian release's codename: `bookworm`, `trixie`, `sid`. */
const CODENAME = /^[a-z][a-z0-9]*$/;

/**
 * /etc/os-release and /etc/debian_version as Debian's base-files writes them for the release a
 * Release file is of (bookworm's `/usr/lib/os-release`: `PRETTY_NAME="Debian GNU/Linux 12
 * (bookworm)"`, `VERSION_ID="12"`, ...), or undefined for a Release that is not Debian's
 * (`Origin: Debian`) or names no codename. The suite of a release's updates or security fixes
 * (`bookworm-security`, `Version: 12`) is of its release. A suite without a version (testing,
 * unstable) has no `VERSION_ID`, as base-files there has none. Two things differ from base-files:
 * debian_version has the major number alone, not the point release (`12`, not `12.11`), and
 * trixie's `DEBIAN_VERSION_FULL` is left out, since the point release of the Release read is not
 * that of the packages installed, and would change the image at each point release.
 */
export function debianReleaseFiles(
  release: Pick<DebRelease, 'origin' | 'codename' | 'version'>,
): { path: string; text: string }[] | undefined {
  if (release.origin !== 'Debian') return undefined;
  const codename = release.codename.split('-')[0] ?? '';
  if (!CODENAME.test(codename)) return undefined;
  const major = /^([0-9]+)(?:[.-]|$)/.exec(release.version)?.[1];
  const lines =
    major === undefined
      ? [`PRETTY_NAME="Debian GNU/Linux ${codename}"`, 'NAME="Debian GNU/Linux"', `VERSION_CODENAME=${codename}`]
      : [
          `PRETTY_NAME="Debian GNU/Linux ${major} (${codename})"`,
          'NAME="Debian GNU/Linux"',
          `VERSION_ID="${major}"`,
          `VERSION="${major} (${codename})"`,
          `VERSION_CODENAME=${codename}`,
        ];
  lines.push(
    'ID=debian',
    'HOME_URL="https://www.debian.org/"',
    'SUPPORT_URL="https://www.debian.org/support"',
    'BUG_REPORT_URL="https://bugs.debian.org/"',
  );
  return [
    { path: 'etc/os-release', text: `${lines.join('\n')}\n` },
    // base-files writes `<testing codename>/sid` where there is no version yet.
    { path: 'etc/debian_version', text: `${major ?? (codename === 'sid' ? 'sid' : `${codename}/sid`)}\n` },
  ];
}

/**
 * The distribution files of a Debian build ({@link PackageSource.distributionFiles}), for the
 * repositories of `options`: from the Release of the first repository, in the configuration's
 * order, that is a Debian release (not its updates or security suite, which serve only when no
 * release suite is configured). The configured repositories, not the locked packages' URLs,
 * since a rebuild from a provenance installs the packages from copies in a temporary folder and
 * must make the same files. The Release is fetched and verified as when the indexes are read,
 * once per build.
 *
 * @param archName the Debian name of a configured architecture (`x86_64` → `amd64`)
 */
export function debDistributionFiles(
  options: PackageSourceOptions,
  archName: (arch: string) => string,
): (arch: string) => Promise<DistributionFiles> {
  const sources = options.repositories.map((r) => parseSourceLine(r, { where: options.configPath }));
  const keyrings = new Map<string, Promise<LazyDebKeyring>>();
  const releases = new Map<string, Promise<DebRelease>>();
  const keyringFor = (s: DebSource): Promise<LazyDebKeyring> => {
    const paths = s.signedBy ?? [DEBIAN_ARCHIVE_KEYRING];
    const key = paths.join('\n');
    let k = keyrings.get(key);
    if (k === undefined) {
      k = LazyDebKeyring.read(paths, { baseDir: options.baseDir, signal: options.signal, configPath: options.configPath });
      keyrings.set(key, k);
    }
    return k;
  };
  const releaseOf = (s: DebSource, debArch: string): Promise<DebRelease> => {
    const key = `${s.url} ${s.suite} ${debArch}`;
    let r = releases.get(key);
    if (r === undefined) {
      r = (async () =>
        (
          await fetchDebianIndex({
            url: s.url,
            suite: s.suite,
            components: [],
            arch: debArch,
            keyring: await keyringFor(s),
            cacheDir: options.cache?.dir,
            byHash: s.byHash,
            checkValidUntil: s.checkValidUntil,
            signal: options.signal,
          })
        ).release)();
      releases.set(key, r);
    }
    return r;
  };
  return async (arch) => {
    const debArch = archName(arch);
    const used = sources.filter((s) => s.archs === undefined || s.archs.includes(debArch));
    let found: { files: { path: string; text: string }[]; where: string } | undefined;
    for (const s of used) {
      const release = await releaseOf(s, debArch);
      const files = debianReleaseFiles(release);
      if (files === undefined) continue;
      found ??= { files, where: release.where };
      if (!release.codename.includes('-')) {
        found = { files, where: release.where };
        break;
      }
    }
    const missing = 'no package installs /etc/os-release: base-files (Essential, so nothing depends on it) is not in the image';
    if (found === undefined) {
      return {
        files: [],
        warning: `${missing}, and no configured suite's Release is Debian's, so /etc/os-release names no distribution and scanners match no advisories; add base-files to contents.packages, or give os-release in the configuration`,
      };
    }
    return {
      files: found.files,
      warning: `${missing}; /etc/os-release and /etc/debian_version are made from ${found.where}, as base-files writes them; add base-files to contents.packages to have its own`,
    };
  };
}
