/** Platforms (`os/arch[/variant]`): parsing, matching, this machine's, and an image config's. */
import { ProvenantError } from '../errors.ts';
import type { ImageConfig, Platform } from './types.ts';

// The operating systems and architectures Go names (GOOS, GOARCH), which containerd's Parse
// tells apart when a specifier has one component; here also a first of two that is an
// architecture and no OS (`arm/v6`).
const KNOWN_OS: ReadonlySet<string> = new Set(
  'aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris windows zos'.split(' '),
);
const KNOWN_ARCH: ReadonlySet<string> = new Set(
  '386 amd64 amd64p32 arm armbe arm64 arm64be loong64 mips mipsle mips64 mips64le mips64p32 mips64p32le ppc ppc64 ppc64le riscv riscv64 s390 s390x sparc sparc64 wasm'.split(
    ' ',
  ),
);

const PLATFORM_USAGE =
  'write a platform as os/arch or os/arch/variant, for example linux/amd64 or linux/arm/v7, an architecture alone (arm64), or arch/variant (arm/v6)';

// The characters containerd's Parse allows: an OS is letters, digits, `_` and `-`; the
// architecture and variant may also hold dots (specifierRe and osRe, platforms.go).
const OS_RE = /^[A-Za-z0-9_-]+$/;
const PART_RE = /^[A-Za-z0-9_.-]+$/;

/**
 * Parses a platform specifier as `--platform` takes it, by containerd's rules (platforms.Parse):
 * `os/arch[/variant]`, normalized ({@link normalizePlatform}: `linux/i386` is linux/386,
 * `linux/armhf` linux/arm/v7); or one component, an architecture (`arm64`: linux/arm64) or an
 * operating system (`linux`: that OS on the host's architecture and variant). containerd gives an
 * architecture alone the host's OS; here it is always linux, the OS of the images Provenant
 * builds and of the daemon Docker runs them in on any host. Two components whose first is a
 * known architecture and no OS Go names are `arch/variant` on linux (`arm64/v8` is linux/arm64,
 * `arm/6` linux/arm/v6), where containerd would take the architecture for an OS no image has;
 * any other first component of two or three is the OS, as containerd takes it, known to Go or
 * not (`wasi/wasm`, `wasip1/wasm`: Docker's Wasm images). Refused: a character containerd
 * refuses, an OS version or feature (`windows(10.0.17763)`), and a comma-separated list, which
 * names several platforms where one is taken (callers that take several split it first); and
 * one component that is neither an OS nor an architecture Go names. Spaces around the text are
 * ignored. Pure: the answer depends on the text alone, so an OS alone, which needs the
 * machine's architecture, is {@link parsePlatformOn}'s. `all` is not a platform; callers treat
 * it before calling this.
 *
 * @throws ProvenantError `USAGE` for anything else, and for an OS alone
 */
export function parsePlatform(text: string): Platform {
  return parsePlatformOn(text, undefined);
}

/**
 * {@link parsePlatform}, where an OS alone (`linux`) is that OS on `host`'s architecture and
 * variant: the command line passes {@link hostPlatform}'s.
 */
export function parsePlatformOn(text: string, host: Platform | undefined): Platform {
  const trimmed = text.trim();
  const bad = (why: string): ProvenantError => new ProvenantError('USAGE', `"${text}" is not a platform${why}`, { hint: PLATFORM_USAGE });
  if (trimmed.includes(',')) throw bad(' but a list of them, and this takes one platform');
  if (trimmed.includes('*')) throw bad(' (wildcards are not platforms)');
  const parts = trimmed.split('/');
  if (parts.length > 3 || parts.some((x) => x === '')) throw bad('');
  const [first, second, third] = parts as [string, string | undefined, string | undefined];
  if (/^[A-Za-z0-9_-]+\(.*\)$/.test(first)) throw bad(' here (an OS version or feature in parentheses is not taken)');
  const wrong = [first, second, third].find((x, i) => x !== undefined && !(i === 0 ? OS_RE : PART_RE).test(x));
  if (wrong !== undefined)
    throw bad(` (${JSON.stringify(wrong)} holds a character containerd refuses: letters, digits, _ and - only, and dots after the OS)`);
  const os = first.toLowerCase();
  const isOs = KNOWN_OS.has(os === 'macos' ? 'darwin' : os);
  const asArch = normalizePlatform({ os: 'linux', architecture: first });
  const isArch = KNOWN_ARCH.has(asArch.architecture);
  if (second === undefined) {
    if (isOs) {
      if (host === undefined) throw bad(' here (an operating system alone names one on the architecture of the machine it runs on)');
      return normalizePlatform(
        host.variant === undefined
          ? { os, architecture: host.architecture }
          : { os, architecture: host.architecture, variant: host.variant },
      );
    }
    if (isArch) return asArch;
    throw bad(' (neither an operating system nor an architecture)');
  }
  if (!isOs && isArch) {
    if (third !== undefined) throw bad(` (${first} is an architecture, and after it comes only a variant)`);
    return normalizePlatform({ os: 'linux', architecture: first, variant: second });
  }
  return normalizePlatform(third === undefined ? { os: first, architecture: second } : { os: first, architecture: second, variant: third });
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/**
 * One platform in the one spelling containerd's Normalize gives it, so that two spellings of a
 * platform compare equal. Lower case; `macos` is darwin. Architectures: `i386` is 386 (any
 * variant dropped), `x86_64`/`x86-64` amd64, `aarch64` arm64, Debian's `armhf` arm/v7 and `armel`
 * arm/v6 (whatever variant was written). Variants: amd64's v1 is the baseline and is dropped, as
 * is arm64's v8 (also written `8`, `v8.0`); arm64's `9`/`9.0`/`v9.0` are v9; arm with none is v7,
 * and a bare number `5` to `8` gains its `v`. Other fields are kept.
 */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase() === 'macos' ? 'darwin' : p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  if (variant === '') variant = undefined;
  if (architecture === 'i386') {
    architecture = '386';
    variant = undefined;
  } else if (architecture === 'x86_64' || architecture === 'x86-64' || architecture === 'amd64') {
    architecture = 'amd64';
    if (variant === 'v1') variant = undefined;
  } else if (architecture === 'aarch64' || architecture === 'arm64') {
    architecture = 'arm64';
    if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = undefined;
    else if (variant === '9' || variant === '9.0' || variant === 'v9.0') variant = 'v9';
  } else if (architecture === 'armhf' || architecture === 'armel') {
    variant = architecture === 'armhf' ? 'v7' : 'v6';
    architecture = 'arm';
  } else if (architecture === 'arm') {
    if (variant === undefined || variant === '7') variant = 'v7';
    else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
  }
  const out: Platform = { ...p, os, architecture };
  if (variant === undefined) delete out.variant;
  else out.variant = variant;
  return out;
}

/** True when `candidate` is the `wanted` platform exactly (os, architecture and variant, each normalized). */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const a = normalizePlatform(wanted);
  const b = normalizePlatform(candidate);
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/**
 * The platforms of `wanted`'s architecture a machine of platform `wanted` runs, best first: the
 * platform itself, then each lower variant of the same architecture, as containerd's `Only`
 * orders them (arm/v7: v6, v5; amd64/v3: v2, the baseline; arm64/v8.2: v8.1, v8; arm64/v9.1:
 * v9, then v8.6 down to v8). Never another architecture, where containerd's `Only` goes on
 * (amd64 to 386, arm64 to 32-bit arm): someone who names an architecture gets that
 * architecture, as containers/image (skopeo, podman) keeps to the variants of the one asked
 * for (WantedPlatforms, internal/pkg/platform). Normalized.
 */
export function compatiblePlatforms(wanted: Platform): Platform[] {
  const w = normalizePlatform(wanted);
  const at = (variant: string): Platform => normalizePlatform({ os: w.os, architecture: w.architecture, variant });
  const level = (v: string | undefined): number => (v !== undefined && /^v\d+$/.test(v) ? Number(v.slice(1)) : Number.NaN);
  const out: Platform[] = [w];
  if (w.architecture === 'amd64') {
    for (let n = level(w.variant) - 1; n >= 1; n--) out.push(at(`v${n}`));
  } else if (w.architecture === 'arm') {
    for (let n = level(w.variant) - 1; n >= 5; n--) out.push(at(`v${n}`));
  } else if (w.architecture === 'arm64') {
    const m = /^v(8|9)(?:\.(\d))?$/.exec(w.variant ?? 'v8');
    if (m === null) return out;
    out.length = 0;
    // v9.N implies v8.(N+5), capped at v8.9 (containerd's table).
    const majors: [number, number][] =
      m[1] === '9'
        ? [
            [9, Number(m[2] ?? 0)],
            [8, Math.min(Number(m[2] ?? 0) + 5, 9)],
          ]
        : [[8, Number(m[2] ?? 0)]];
    for (const [major, top] of majors)
      for (let minor = top; minor >= 0; minor--) out.push(at(minor === 0 ? `v${major}` : `v${major}.${minor}`));
  }
  return out;
}

/**
 * The entry of `candidates` that best fits `wanted` by {@link compatiblePlatforms}' order, and
 * whether it is `wanted` itself; undefined when none runs there. For choosing an image to run
 * (a runtime pulls so); signing and verifying name a platform exactly ({@link platformMatches}).
 */
export function bestPlatformMatch<T extends { platform?: Platform | undefined }>(
  wanted: Platform,
  candidates: readonly T[],
): { match: T; exact: boolean } | undefined {
  const order = compatiblePlatforms(wanted);
  for (const [i, p] of order.entries()) {
    const match = candidates.find((c) => c.platform !== undefined && platformMatches(p, c.platform));
    if (match !== undefined) return { match, exact: i === 0 };
  }
  return undefined;
}

/**
 * The entry of `entries` that is the platform `wanted` exactly ({@link platformMatches}): the
 * first, where several are (a Windows index lists one image per `os.version`; a Linux one may
 * list two alike), as containers/image (skopeo, podman: ChooseInstance) and containerd's matcher
 * take it, since no OS version is asked for. `warning` is what to say then, for the caller's
 * logger: which was taken, with its `os.version`, and the others by digest (each once; none
 * when every match is one digest, listed twice), by which `where@DIGEST` names one; `others`
 * are those, for a caller that words it otherwise (fix's account). None for BuildKit's
 * attestation manifests (unknown/unknown), one per image, which no one takes for an image.
 * Every command that picks an image by `--platform` picks it here, so that each warns alike.
 */
export function firstOfPlatform<T extends { platform?: Platform | undefined; digest: string }>(
  wanted: Platform,
  entries: readonly T[],
  where: string,
): { entry: T | undefined; warning: string | undefined; others: T[] } {
  const matches = entries.filter((m) => m.platform !== undefined && platformMatches(wanted, m.platform));
  const entry = matches[0];
  // Other images, told apart by digest: an index that lists one image twice has one image there.
  const others = matches.filter((m, i) => m.digest !== entry?.digest && matches.findIndex((x) => x.digest === m.digest) === i);
  if (entry === undefined || others.length === 0 || isUnknownPlatform(entry.platform)) return { entry, warning: undefined, others: [] };
  const named = (d: T): string => {
    const version = d.platform?.['os.version'];
    return version === undefined ? d.digest : `${d.digest} (os.version ${version})`;
  };
  const warning = `${others.length + 1} images of the index are ${formatPlatform(normalizePlatform(wanted))}: took the first, ${named(entry)}; to take another, name it by digest (${where}@DIGEST): ${others.map(named).join(', ')}`;
  return { entry, warning, others };
}

/** BuildKit marks attestation manifests with this pseudo-platform. */
export function isUnknownPlatform(p: Platform | undefined): boolean {
  return p !== undefined && p.os === 'unknown' && p.architecture === 'unknown';
}

/**
 * The ARM version the running Node was built for (`process.config.variables.arm_version`, "6"
 * or "7" on 32-bit ARM builds), or undefined where Node does not say.
 */
export function nodeArmVersion(): string | undefined {
  const v = (process.config.variables as Record<string, unknown>).arm_version;
  return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
}

/**
 * The OCI platform for a Node `process.arch` value. 32-bit arm takes its variant from
 * `armVersion` (default {@link nodeArmVersion}: a Node built for ARMv6 runs on a v6 machine, one
 * built for v7 needs v7), v7 when unknown: the machine may be newer than its Node, which
 * containerd would learn from /proc/cpuinfo.
 */
export function hostPlatform(arch: string, armVersion: string | undefined = arch === 'arm' ? nodeArmVersion() : undefined): Platform {
  const map: Record<string, Platform> = {
    x64: { os: 'linux', architecture: 'amd64' },
    arm64: { os: 'linux', architecture: 'arm64' },
    arm: normalizePlatform({
      os: 'linux',
      architecture: 'arm',
      variant: armVersion !== undefined && /^[5-8]$/.test(armVersion) ? armVersion : 'v7',
    }),
    ia32: { os: 'linux', architecture: '386' },
    ppc64: { os: 'linux', architecture: 'ppc64le' },
    s390x: { os: 'linux', architecture: 's390x' },
    riscv64: { os: 'linux', architecture: 'riscv64' },
    loong64: { os: 'linux', architecture: 'loong64' },
  };
  return map[arch] ?? { os: 'linux', architecture: arch };
}

/**
 * The platform a parsed image config declares (`os`, `architecture`, `variant`), or undefined
 * when it names no os and architecture. The config is read and parsed by the image module's one
 * reader (readImageConfig), not here.
 */
export function configPlatform(c: Partial<ImageConfig>): Platform | undefined {
  if (typeof c.os !== 'string' || typeof c.architecture !== 'string') return undefined;
  const p: Platform = { os: c.os, architecture: c.architecture };
  if (typeof c.variant === 'string') p.variant = c.variant;
  return p;
}
