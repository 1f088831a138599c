/**
 * Trust: a Sigstore trusted root (Fulcio CAs, Rekor logs, CT logs, timestamp authorities, in
 * the protobuf-specs `TrustedRoot` JSON that `cosign trusted-root create` and Sigstore's TUF
 * repository publish: https://github.com/sigstore/protobuf-specs/blob/main/protos/sigstore_trustroot.proto),
 * optionally with a public key for key-signed content.
 */
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { type TrustMaterial, toTrustMaterial } from '@sigstore/verify';
import { ProvenantError } from '../errors.ts';

const { createRequire } = process.getBuiltinModule('node:module');

export type { TrustedRoot } from '@sigstore/protobuf-specs';

/** The media type of a trusted root document. */
export const TRUSTED_ROOT_MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot+json;version=0.1';

/**
 * Parses a trusted root JSON document.
 *
 * @throws ProvenantError `INVALID_CONFIG` when it is not one
 */
export function parseTrustedRoot(bytes: Uint8Array | string, where?: string): TrustedRoot {
  const at = where === undefined ? {} : { where };
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new ProvenantError('INVALID_CONFIG', 'the trusted root is not JSON', { ...at, cause });
  }
  const mediaType = (value as { mediaType?: unknown } | null)?.mediaType;
  if (typeof mediaType !== 'string' || !mediaType.startsWith('application/vnd.dev.sigstore.trustedroot')) {
    throw new ProvenantError('INVALID_CONFIG', `the trusted root has media type ${JSON.stringify(mediaType)}`, {
      ...at,
      hint: `a trusted root says "mediaType": "${TRUSTED_ROOT_MEDIA_TYPE}"`,
    });
  }
  let root: TrustedRoot;
  try {
    root = TrustedRoot.fromJSON(value);
    // Parse every certificate and key now, so a broken document fails here with its name
    // rather than in the middle of a verification.
    toTrustMaterial(root);
  } catch (cause) {
    throw new ProvenantError('INVALID_CONFIG', `the trusted root is malformed: ${(cause as Error).message}`, { ...at, cause });
  }
  return root;
}

/** Sigstore's public-good trusted root as a package ships it, and which package version that is. */
export interface EmbeddedTrustedRoot {
  root: TrustedRoot;
  /** `@sigstore/tuf <version>`: the root is the one of that release. */
  source: string;
}

let embedded: Promise<EmbeddedTrustedRoot> | undefined;

/**
 * The public-good instance's trusted root (Fulcio, Rekor, CT logs and timestamp authority of
 * Sigstore's own deployment) as @sigstore/tuf embeds it: the seed of its TUF client holds the
 * repository's `trusted_root.json` target as of that release. It is read offline and not
 * refreshed: keys rotated after that release need a newer root (`cosign trusted-root create`,
 * or the TUF repository's current target) passed explicitly.
 *
 * @throws ProvenantError `INVALID_CONFIG` when the package's seed holds no trusted root
 */
export function publicGoodTrustedRoot(): Promise<EmbeddedTrustedRoot> {
  embedded ??= loadEmbedded().catch((err: unknown) => {
    embedded = undefined;
    throw err;
  });
  return embedded;
}

async function loadEmbedded(): Promise<EmbeddedTrustedRoot> {
  const require = createRequire(import.meta.url);
  const seedsPath = require.resolve('@sigstore/tuf/seeds.json');
  const pkg = JSON.parse(await readFile(require.resolve('@sigstore/tuf/package.json'), 'utf8')) as { version?: string };
  const source = `@sigstore/tuf ${pkg.version ?? '(unknown version)'}`;
  // { "<TUF repository URL>": { "root.json": ..., "targets": { "trusted_root.json": base64, ... } } }
  const seeds = JSON.parse(await readFile(seedsPath, 'utf8')) as Record<string, { targets?: Record<string, string> }>;
  for (const repo of Object.values(seeds)) {
    const target = repo.targets?.['trusted_root.json'];
    if (target !== undefined) return { root: parseTrustedRoot(Buffer.from(target, 'base64'), `${source}: seeds.json`), source };
  }
  throw new ProvenantError('INVALID_CONFIG', `${source} embeds no trusted_root.json`, {
    where: seedsPath,
    hint: 'pass the trusted root with --trusted-root',
  });
}

/** A trusted root that trusts nothing: for key-only verification without one. */
export function emptyTrustedRoot(): TrustedRoot {
  return TrustedRoot.fromJSON({
    mediaType: TRUSTED_ROOT_MEDIA_TYPE,
    tlogs: [],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  });
}

/**
 * The material @sigstore/verify checks against: the root's authorities, and `key` (if given)
 * as the one public key, whatever hint a bundle carries, as `cosign verify --key` does.
 */
export function trustMaterialOf(
  root: TrustedRoot | undefined,
  key?: KeyObject,
  validFor?: { start?: Date | undefined; end?: Date | undefined },
): TrustMaterial {
  const base = root ?? emptyTrustedRoot();
  if (key === undefined) return toTrustMaterial(base);
  const start = validFor?.start?.getTime() ?? Number.NEGATIVE_INFINITY;
  const end = validFor?.end?.getTime() ?? Number.POSITIVE_INFINITY;
  return toTrustMaterial(base, () => ({ publicKey: key, validFor: (date: Date) => date.getTime() >= start && date.getTime() <= end }));
}

/**
 * The CA certificates (DER, issuer first, root last) that issued `leaf`, from `root`'s
 * certificate authorities, or [] when none did. cosign 2 wrote this chain beside a keyless
 * signature (`dev.sigstore.cosign/chain`).
 */
export function issuingChain(leafDer: Uint8Array, root: TrustedRoot | undefined): Uint8Array[] {
  if (root === undefined) return [];
  const leaf = X509Certificate.parse(Buffer.from(leafDer));
  for (const ca of toTrustMaterial(root).certificateAuthorities) {
    const issuer = ca.certChain[0];
    if (issuer?.subject.equals(leaf.issuer) && leaf.verify(issuer)) {
      return ca.certChain.map((c) => new Uint8Array(c.root.toDER()));
    }
  }
  return [];
}
