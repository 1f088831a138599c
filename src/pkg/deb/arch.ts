/**
 * Debian's architecture names beside apk's, the configuration's: which Debian architecture each
 * apk architecture is built as, and the OCI platform of each Debian one. Some names are both, with
 * other meanings (apk's armhf is arm/v6, Debian's armhf arm/v7): a name is mapped once, where the
 * configuration's is taken in (readIndex, lockEntry, lockSources, the builder's lookup of a lock's
 * entries), and what a lock entry or a Release says is Debian's already.
 *
 * ../../builder/arch.ts holds apk's names and platforms, which this module may not import; a test
 * (test/pkg/deb/arch.test.ts) checks that the tables agree.
 */

/** apk architecture names (the configuration's) to Debian's. */
export const DEB_ARCH: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  aarch64: 'arm64',
  armv7: 'armhf',
  armhf: 'armel',
  x86: 'i386',
  ppc64le: 'ppc64el',
  s390x: 's390x',
  riscv64: 'riscv64',
  loongarch64: 'loong64',
};

/** Debian's architecture names (a lock's), of which armhf is also apk's, with another meaning. */
export const DEB_NAMES: ReadonlySet<string> = new Set(Object.values(DEB_ARCH));

/** The OCI platform of each Debian architecture, for messages that must say which one a name means. */
export const DEB_PLATFORM: Readonly<Record<string, string>> = {
  amd64: 'linux/amd64',
  arm64: 'linux/arm64',
  armhf: 'linux/arm/v7',
  armel: 'linux/arm/v6',
  i386: 'linux/386',
  ppc64el: 'linux/ppc64le',
  s390x: 'linux/s390x',
  riscv64: 'linux/riscv64',
  loong64: 'linux/loong64',
};

/** The apk architecture (as `archs` takes it) built as the Debian architecture `debArch`, or undefined. */
export function apkArchOfDeb(debArch: string): string | undefined {
  return Object.keys(DEB_ARCH).find((a) => DEB_ARCH[a] === debArch);
}
