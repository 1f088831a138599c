/**
 * Architecture names: apk's (`x86_64`, `aarch64`, ...), the spelling the configuration keeps,
 * from any spelling apko accepts, and the OCI platform of each.
 */

import { isProvenantError, ProvenantError } from '../errors.ts';
import { formatPlatform, hostPlatform, parsePlatform, parsePlatformOn, platformMatches } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import { suggest } from '../yaml.ts';
import type { ApkArch } from './config-types.ts';

// apko's ParseArchitecture accepts apk names and OCI names (types.go); `arm64/v8` is Docker's
// spelling of arm64 and costs nothing to accept. Debian's names are accepted where they name the
// same architecture for apk as for Debian (`i386`, `ppc64el`; `amd64`, `arm64`, `s390x`,
// `riscv64` and `loong64` are OCI's too), since a Debian build's lock and messages use them. Not
// `armel`: this table serves every ecosystem, and apk's armhf, the slot a Debian build fills with
// armel, is ARMv6 hard-float where armel is soft-float, so an Alpine build asked for armel would
// make another architecture without a word. Nor Debian's `armhf` (arm/v7, apk's armv7): `armhf` is
// apk's (arm/v6).
const ARCH_ALIASES: Readonly<Record<string, ApkArch>> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  aarch64: 'aarch64',
  arm64: 'aarch64',
  'arm64/v8': 'aarch64',
  armv7: 'armv7',
  'arm/v7': 'armv7',
  armhf: 'armhf',
  'arm/v6': 'armhf',
  x86: 'x86',
  '386': 'x86',
  i386: 'x86',
  ppc64le: 'ppc64le',
  ppc64el: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loongarch64',
  loongarch64: 'loongarch64',
};

const APK_TO_PLATFORM: Readonly<Record<ApkArch, { architecture: string; variant?: string }>> = {
  x86_64: { architecture: 'amd64' },
  aarch64: { architecture: 'arm64' },
  armv7: { architecture: 'arm', variant: 'v7' },
  armhf: { architecture: 'arm', variant: 'v6' },
  x86: { architecture: '386' },
  ppc64le: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
  loongarch64: { architecture: 'loong64' },
};

/** How to write an architecture, for errors. */
export const ARCH_HINT =
  "use an apk name (x86_64, aarch64, armv7, armhf, x86, ppc64le, s390x, riscv64, loongarch64), an OCI one (amd64, arm64, arm/v7, arm/v6, 386, loong64) or Debian's i386 or ppc64el; armhf is apk's (arm/v6, which a Debian source builds as Debian's armel): Debian's armhf (arm/v7) is armv7";

/** How to write a platform, for errors: the OCI platform of each architecture. */
const PLATFORM_HINT = `write an OCI platform (${Object.values(APK_TO_PLATFORM)
  .map((p) => formatPlatform({ os: 'linux', ...p }))
  .join(', ')}; linux/arm is linux/arm/v7), or an architecture name with --arch (archs in the configuration)`;

/** The apk name of an architecture spelling, or undefined. */
export function lookupArch(name: string): ApkArch | undefined {
  return Object.hasOwn(ARCH_ALIASES, name) ? ARCH_ALIASES[name] : undefined;
}

/**
 * The apk name of an architecture written the apk way (`x86_64`, `aarch64`, `armv7`, `armhf`,
 * `x86`, `loongarch64`), the OCI/Docker way (`amd64`, `arm64`, `arm/v7`, `arm/v6`, `386`,
 * `loong64`) or Debian's (`i386`, `ppc64el`); `ppc64le`, `s390x` and `riscv64` are the same in
 * all. Names are case-sensitive, as in apko. Throws `USAGE` for anything else.
 */
export function normalizeArch(name: string): ApkArch {
  const arch = lookupArch(name);
  if (arch === undefined) {
    const guess = suggest(name, Object.keys(ARCH_ALIASES));
    throw new ProvenantError('USAGE', `"${name}" is not an architecture${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`, {
      hint: ARCH_HINT,
    });
  }
  return arch;
}

/**
 * The apk architecture whose image has the OCI platform `platform` (as {@link platformMatches}
 * compares platforms, so `linux/arm` is armv7), or undefined.
 */
export function platformApkArch(platform: Platform): ApkArch | undefined {
  for (const arch of Object.keys(APK_TO_PLATFORM) as ApkArch[]) {
    if (platformMatches(platform, apkArchToPlatform(arch))) return arch;
  }
  return undefined;
}

/**
 * The apk architecture of an OCI platform as `--platform` and the Action's `platforms` take it,
 * `linux/ARCH[/VARIANT]`, read by {@link parsePlatform} as every other command reads `--platform`
 * (`linux/arm` is arm/v7 and `linux/arm64/v8` arm64, as buildx and containerd read them): the
 * image built for a platform is the one `sbom --platform` of the same text picks. Architecture
 * names that are no OCI platform's (Debian's `i386`, apk's `armv7`) are `--arch`'s and `archs`',
 * not a platform's. Undefined when the text does not name linux and an architecture, for the
 * caller to say which flag or input was wrong.
 *
 * `host` is what an OS alone (`linux`) stands on, as {@link parsePlatformOn} takes it: the
 * command line passes this machine's; without one, `linux` alone names no architecture.
 *
 * @throws ProvenantError `USAGE` for a linux platform whose architecture no one builds for, with
 *   the platform to write when the text names an architecture the other way (`linux/x86`)
 */
export function linuxPlatformArch(text: string, host?: Platform): ApkArch | undefined {
  let platform: Platform;
  try {
    platform = parsePlatformOn(text, host);
  } catch (err) {
    if (isProvenantError(err, 'USAGE')) return undefined;
    throw err;
  }
  if (platform.os !== 'linux') return undefined;
  const arch = platformApkArch(platform);
  if (arch !== undefined) return arch;
  const named = lookupArch(platform.variant === undefined ? platform.architecture : `${platform.architecture}/${platform.variant}`);
  const instead = named === undefined ? '' : ` (did you mean ${formatPlatform(apkArchToPlatform(named))}?)`;
  throw new ProvenantError('USAGE', `${text} is not an OCI platform Provenant builds for${instead}`, { hint: PLATFORM_HINT });
}

/**
 * The architectures, each once, in the order first named: `linux/arm64` and `linux/arm64/v8`
 * (or `--arch aarch64` beside `--platform linux/arm64`) are one image, as buildx builds one,
 * not two copies the index would list twice.
 */
export function distinctArchs(archs: Iterable<ApkArch>): ApkArch[] {
  return [...new Set(archs)];
}

/**
 * The OCI platform (`os` is always `linux`) of an architecture, as apko's ToOCIPlatform maps it:
 * `armv7` is arm/v7, `armhf` is arm/v6, `x86` is 386, `loongarch64` is loong64, `aarch64` is arm64
 * with no variant. Takes any name {@link normalizeArch} takes.
 */
export function apkArchToPlatform(arch: string): Platform {
  const p = APK_TO_PLATFORM[normalizeArch(arch)];
  return p.variant === undefined
    ? { os: 'linux', architecture: p.architecture }
    : { os: 'linux', architecture: p.architecture, variant: p.variant };
}

/** The apk name of the host architecture (a Node `process.arch` value or any spelling {@link normalizeArch} takes). */
export function hostApkArch(hostArch: string): ApkArch {
  const direct = lookupArch(hostArch);
  if (direct !== undefined) return direct;
  // A Node process.arch value: the OCI platform module already knows those names.
  const viaNode = platformApkArch(hostPlatform(hostArch));
  if (viaNode !== undefined) return viaNode;
  throw new ProvenantError('USAGE', `the host architecture "${hostArch}" is not one Provenant builds for`, {
    hint: 'name the architectures in the config (archs: [x86_64]) or on the command line',
  });
}
/** Every spelling of an architecture the configuration takes, for suggestions. */
export const ARCH_NAMES: readonly string[] = Object.keys(ARCH_ALIASES);

/**
 * Warnings for architecture names as the user wrote them (`names`, in `archs` or `--arch`, named
 * by `where`) that a Debian source reads otherwise while giving the name to another architecture:
 * it builds apk's armhf (ARMv6, linux/arm/v6) as Debian's armel, and Debian's armhf
 * (linux/arm/v7) is armv7 here. Someone who wrote Debian's name meant its architecture;
 * the mapping stays apko's, and the build says which it makes. Only the text written counts:
 * `arm/v6` or `--platform linux/armel` also become apk's armhf, and mean it. `archName` is the
 * package source's (`archName` of ../pkg/source.ts).
 */
export function renamedArchWarnings(names: readonly string[], archName: (arch: string) => string, where: string): string[] {
  const out: string[] = [];
  for (const name of new Set(names)) {
    const apk = lookupArch(name);
    if (apk === undefined) continue;
    const theirs = archName(apk);
    if (theirs === name) continue;
    const meant = (Object.keys(APK_TO_PLATFORM) as ApkArch[]).find((a) => a !== apk && archName(a) === name);
    if (meant === undefined) continue;
    const platform = (a: ApkArch) => formatPlatform(apkArchToPlatform(a));
    out.push(
      `${where} names ${name}, apk's name for ${platform(apk)}: this Debian source builds it as its ${theirs} (${platform(apk)}); its own ${name} is ${platform(meant)}, written ${meant} in ${where}`,
    );
  }
  return out;
}
