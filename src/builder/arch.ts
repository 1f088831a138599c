/**
 * Architecture names: apk's (`x86_64`, `aarch64`, ...), the spelling the configuration keeps,
 * from any spelling apko accepts, and the OCI platform of each.
 */

import { ProvenantError } from '../errors.ts';
import { formatPlatform, hostPlatform } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import { suggest } from '../yaml.ts';
import type { ApkArch } from './config-types.ts';

// apko's ParseArchitecture accepts apk names and OCI names (types.go); `arm64/v8` is Docker's
// spelling of arm64 and costs nothing to accept. Debian's names are accepted where they name one
// architecture only (`i386`, `ppc64el`, `armel`; `amd64`, `arm64`, `s390x`, `riscv64` and
// `loong64` are OCI's too), since a Debian build's lock and messages use them. Debian's `armhf`
// (arm/v7, apk's armv7) is not: `armhf` is apk's (arm/v6), which a Debian build reads as armel.
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
  armel: 'armhf',
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
  "use an apk name (x86_64, aarch64, armv7, armhf, x86, ppc64le, s390x, riscv64, loongarch64), an OCI one (amd64, arm64, arm/v7, arm/v6, 386, loong64) or Debian's i386, ppc64el or armel; armhf is apk's (arm/v6): Debian's armhf (arm/v7) is armv7";

/** The apk name of an architecture spelling, or undefined. */
export function lookupArch(name: string): ApkArch | undefined {
  return Object.hasOwn(ARCH_ALIASES, name) ? ARCH_ALIASES[name] : undefined;
}

/**
 * The apk name of an architecture written the apk way (`x86_64`, `aarch64`, `armv7`, `armhf`,
 * `x86`, `loongarch64`), the OCI/Docker way (`amd64`, `arm64`, `arm/v7`, `arm/v6`, `386`,
 * `loong64`) or Debian's (`i386`, `ppc64el`, `armel`); `ppc64le`, `s390x` and `riscv64` are the
 * same in both. Names are case-sensitive, as in apko. Throws `USAGE` for anything else.
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
 * The apk architecture of a platform as buildx writes it, `linux/ARCH[/VARIANT]` (`linux/amd64`,
 * `linux/arm64/v8`, `linux/arm/v7`, `linux/arm` for arm/v7), with any spelling {@link normalizeArch}
 * takes after `linux/`; undefined when it does not name linux and an architecture, for the caller to say
 * which flag or input was wrong.
 *
 * @throws ProvenantError `USAGE` for a linux platform whose architecture no one builds for
 */
export function linuxPlatformArch(platform: string): ApkArch | undefined {
  const [os, ...arch] = platform.split('/');
  if (os !== 'linux' || arch.length === 0) return undefined;
  // A bare `arm` is arm/v7, as buildx and containerd read it, and normalizePlatform, by which
  // `sbom --platform linux/arm` picks v7; it is not an architecture name of its own (apko has none).
  const name = arch.join('/');
  return normalizeArch(name === 'arm' ? 'arm/v7' : name);
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
  const p = hostPlatform(hostArch);
  const viaNode = lookupArch(formatPlatform(p).slice('linux/'.length)) ?? lookupArch(p.architecture);
  if (viaNode !== undefined) return viaNode;
  throw new ProvenantError('USAGE', `the host architecture "${hostArch}" is not one Provenant builds for`, {
    hint: 'name the architectures in the config (archs: [x86_64]) or on the command line',
  });
}
/** Every spelling of an architecture the configuration takes, for suggestions. */
export const ARCH_NAMES: readonly string[] = Object.keys(ARCH_ALIASES);
