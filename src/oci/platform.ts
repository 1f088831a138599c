/** Platforms (`os/arch[/variant]`): parsing, matching, this machine's, and an image config's. */
import { decodeUtf8 } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import type { ImageConfig, Platform } from './types.ts';

/**
 * Parses `os/arch[/variant]` (as `--platform` takes it). `all` is not a platform; callers treat
 * it before calling this.
 */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  const [os, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || !os || !architecture || (parts.length === 3 && !variant)) {
    throw new ProvenantError('USAGE', `"${text}" is not a platform`, {
      hint: 'write a platform as os/arch or os/arch/variant, for example linux/amd64 or linux/arm/v7',
    });
  }
  return normalizePlatform(variant === undefined ? { os, architecture } : { os, architecture, variant });
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/**
 * Normalizes the spellings the ecosystem uses for one platform, as containerd's platforms
 * package does: arm64's default variant is v8 and is dropped; `aarch64` is arm64, `x86_64` is
 * amd64; plain `arm` means v7.
 */
export function normalizePlatform(p: Platform): Platform {
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  if (architecture === 'aarch64') architecture = 'arm64';
  if (architecture === 'x86_64' || architecture === 'x86-64') architecture = 'amd64';
  if (architecture === 'arm64' && variant === 'v8') variant = undefined;
  if (architecture === 'arm' && variant === undefined) variant = 'v7';
  const out: Platform = { ...p, os: p.os.toLowerCase(), architecture };
  if (variant === undefined) delete out.variant;
  else out.variant = variant;
  return out;
}

/** True when `candidate` satisfies the `wanted` platform (os, architecture and variant). */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const a = normalizePlatform(wanted);
  const b = normalizePlatform(candidate);
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/** BuildKit marks attestation manifests with this pseudo-platform. */
export function isUnknownPlatform(p: Platform | undefined): boolean {
  return p !== undefined && p.os === 'unknown' && p.architecture === 'unknown';
}

/** The OCI platform for a Node `process.arch` value (the caller reads `process`). */
export function hostPlatform(arch: string): Platform {
  const map: Record<string, Platform> = {
    x64: { os: 'linux', architecture: 'amd64' },
    arm64: { os: 'linux', architecture: 'arm64' },
    arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
    ia32: { os: 'linux', architecture: '386' },
    ppc64: { os: 'linux', architecture: 'ppc64le' },
    s390x: { os: 'linux', architecture: 's390x' },
    riscv64: { os: 'linux', architecture: 'riscv64' },
    loong64: { os: 'linux', architecture: 'loong64' },
  };
  return map[arch] ?? { os: 'linux', architecture: arch };
}

/**
 * The platform an image config's bytes declare (`os`, `architecture`, `variant`), or undefined
 * when they are not a JSON image config: an artifact's config need not be one.
 */
export function configPlatform(bytes: Uint8Array): Platform | undefined {
  let c: Partial<ImageConfig>;
  try {
    c = JSON.parse(decodeUtf8(bytes)) as Partial<ImageConfig>;
  } catch {
    return undefined;
  }
  if (typeof c !== 'object' || c === null || typeof c.os !== 'string' || typeof c.architecture !== 'string') return undefined;
  const p: Platform = { os: c.os, architecture: c.architecture };
  if (typeof c.variant === 'string') p.variant = c.variant;
  return p;
}
