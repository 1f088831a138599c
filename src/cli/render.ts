/** The text and JSON forms of what `inspect` and `copy` print. */
import type { CopyResult } from '../image/copy.ts';
import type { InspectedAttachment, InspectedManifest, InspectResult } from '../image/inspect.ts';
import type { Digest } from '../oci/digest.ts';
import { formatPlatform } from '../oci/platform.ts';
import { formatLocation, type Location, parseLocation } from '../ref/location.ts';
import { identityLabel } from '../sign/identity.ts';
import { visibleLine as one } from './visible.ts';

/**
 * One attachment on one line. Its predicate types, media types, tag and signer come from whoever
 * pushed it, so each is escaped on its own (`one`): a newline in a predicate type would otherwise
 * print a line that looks like another attachment's, "signed by" a key of its choosing.
 */
function attachmentLine(a: InspectedAttachment): string {
  const what = one(a.predicateTypes.length > 0 ? a.predicateTypes.join(', ') : (a.artifactType ?? a.mediaType));
  const where = a.storage === 'cosign' ? `tag ${one(a.tag ?? '')}` : a.storage === 'buildkit' ? 'in index' : 'referrer';
  return `${a.kind.padEnd(11)} ${a.storage.padEnd(9)} ${a.digest}  ${what}  (${where})${signedBy(a)}`;
}

/** Whether a signature or attestation is signed, and by which key or identity it says (not verified). */
function signedBy(a: InspectedAttachment): string {
  if (a.signatures === undefined) return '';
  if (a.signatures.length === 0 || a.signatures.every((s) => !s.signed)) return '  unsigned';
  const who = a.signatures.map((s) => {
    if (!s.signed) return 'unsigned';
    if (s.keyId !== undefined) return `key ${one(s.keyId)}`;
    if (s.identity !== undefined) return one(identityLabel({ identity: s.identity, issuer: s.issuer }));
    // cosign 2 layers carry no key hint: the signature says only that a key made it.
    return 'an unnamed key';
  });
  return `  signed by ${[...new Set(who)].join(', ')}`;
}

/**
 * The name of one manifest of the image `name` names, written so that it works as input: the
 * same store, by digest (`oci:image.oci@sha256:...`, `registry/repo@sha256:...`). A docker-archive
 * holds one image and cannot be addressed by digest, so its name stays.
 */
export function digestName(name: string, digest: Digest): string {
  let location: Location;
  try {
    location = parseLocation(name);
  } catch {
    return `${name}@${digest}`;
  }
  switch (location.kind) {
    case 'registry':
      return formatLocation({ kind: 'registry', reference: { ...location.reference, tag: undefined, digest } });
    case 'docker-archive':
      return name;
    default:
      return formatLocation({ ...location, tag: undefined, digest });
  }
}

/**
 * A layer's media type without the prefix every layer type shares: `tar+gzip` for OCI's,
 * `docker tar.gzip` for Docker's; any other type as it is.
 */
function layerType(mediaType: string): string {
  for (const [prefix, name] of LAYER_PREFIXES) if (mediaType.startsWith(prefix)) return `${name}${mediaType.slice(prefix.length)}`;
  return mediaType;
}

const LAYER_PREFIXES: ReadonlyArray<readonly [string, string]> = [
  ['application/vnd.oci.image.layer.v1.', ''],
  ['application/vnd.oci.image.layer.nondistributable.v1.', 'nondistributable '],
  ['application/vnd.docker.image.rootfs.diff.', 'docker '],
  ['application/vnd.docker.image.rootfs.foreign.diff.', 'docker foreign '],
];

/**
 * What `inspect` read of one image's manifest and config, as `skopeo inspect` shows it: created,
 * the run settings under `Config:`, the labels and the layers, each field at `indent` with its
 * value at column `width` (the column of the lines above it), and a field the config lacks left
 * out. Every value comes from whoever built the image, so each is escaped on its own line (`one`).
 */
function detailLines(m: InspectedManifest, indent: string, width: number): string[] {
  const field = (label: string, values: string[], at = indent, w = width): string[] =>
    values.map((v, i) => `${at}${(i === 0 ? `${label}:` : '').padEnd(w - 1)} ${one(v)}`);
  const lines: string[] = [];
  if (m.created !== undefined) lines.push(...field('Created', [m.created]));
  const inner = `${indent}  `;
  const run = [
    ...(m.user === undefined ? [] : field('User', [m.user], inner, 13)),
    ...(m.env === undefined || m.env.length === 0 ? [] : field('Env', m.env, inner, 13)),
    ...(m.entrypoint === undefined ? [] : field('Entrypoint', [JSON.stringify(m.entrypoint)], inner, 13)),
    ...(m.cmd === undefined ? [] : field('Cmd', [JSON.stringify(m.cmd)], inner, 13)),
    ...(m.workingDir === undefined ? [] : field('WorkingDir', [m.workingDir], inner, 13)),
  ];
  if (run.length > 0) lines.push(`${indent}Config:`, ...run);
  if (m.labels !== undefined) {
    lines.push(`${indent}Labels:`, ...Object.entries(m.labels).map(([k, v]) => `${inner}${one(k)}=${one(v)}`));
  }
  if (m.layers !== undefined) {
    if (m.layers.length === 0) lines.push(...field('Layers', ['none']));
    else {
      const types = m.layers.map((l) => one(layerType(l.mediaType)));
      const w = Math.max(...types.map((t) => t.length));
      lines.push(`${indent}Layers:`, ...m.layers.map((l, i) => `${inner}${l.digest}  ${types[i]!.padEnd(w)}  ${l.size} bytes`));
    }
  }
  return lines;
}

/** The text form of `inspect`, after `docker buildx imagetools inspect`, with attachments as a tree. */
export function renderInspect(r: InspectResult): string {
  const lines = [`Name:      ${one(r.name)}`, `MediaType: ${one(r.mediaType)}`, `Digest:    ${r.digest}`];
  if (r.kind === 'manifest') {
    const m = r.manifests[0];
    if (m?.platform) lines.push(`Platform:  ${one(formatPlatform(m.platform))}`);
    if (m) lines.push(...detailLines(m, '', 11));
    if (m && m.attachments.length > 0) {
      lines.push('Attached:');
      m.attachments.forEach((a, i) => {
        lines.push(`  ${i === m.attachments.length - 1 ? '└─' : '├─'} ${attachmentLine(a)}`);
      });
    }
    return `${lines.join('\n')}\n`;
  }
  lines.push('', 'Manifests:');
  for (const m of r.manifests) {
    lines.push(`  Name:        ${one(digestName(r.name, m.digest))}`, `  MediaType:   ${one(m.mediaType)}`);
    if (m.platform) lines.push(`  Platform:    ${one(formatPlatform(m.platform))}`);
    lines.push(...detailLines(m, '  ', 13));
    if (m.attachments.length > 0) {
      lines.push('  Attached:');
      m.attachments.forEach((a, i) => {
        lines.push(`    ${i === m.attachments.length - 1 ? '└─' : '├─'} ${attachmentLine(a)}`);
      });
    }
    lines.push('');
  }
  if (r.attachments.length > 0) {
    lines.push('Attached to the index:');
    for (const a of r.attachments) lines.push(`  ${attachmentLine(a)}`);
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** The JSON form of `inspect`: the result without the raw bytes, plus the parsed manifest. */
export function inspectJson(r: InspectResult): unknown {
  const { raw, ...rest } = r;
  return { ...rest, manifest: raw.kind === 'index' ? raw.index : raw.manifest };
}

/** A tag a copy wrote, and the digest it named before (null: none; absent: not looked up, at a registry). */
export interface TagWritten {
  tag: string;
  before?: Digest | null;
}

/**
 * Two lines about a finished copy. A manifest already at the destination has everything it
 * names there too, so the copy skips it without looking at its blobs: it is counted as a
 * manifest, not as blobs nobody counted. A copy that only set or moved a tag says so. Signatures
 * and attestations are said as copied (referrers and cosign tags written) and already there.
 */
export function renderCopy(r: CopyResult, dst: string, tags: readonly TagWritten[] = []): string {
  // Signatures and attestations: those this copy wrote, and those the destination had already.
  const held = r.referrersExisted.length;
  // A cosign tag holds one signature or attestation per layer: counted by layer, not by tag.
  const brought = r.referrers.length - held + r.cosignSignatures;
  const heldSaid = held > 0 ? [`${held} signature(s)/attestation(s) already there`] : [];
  if (r.blobs.stored + r.blobs.mounted + r.manifests.stored === 0 && r.manifests.existed > 0 && brought === 0) {
    const changed = tags.filter((t) => t.before !== r.digest);
    const said = [...heldSaid, ...changed.map((t) => (t.before == null ? `tag ${t.tag} set` : `tag ${t.tag} moved from ${t.before}`))];
    if (said.length === 0) return `${dst} ${r.digest}\n  already there with everything it references: nothing copied\n`;
    return `${dst} ${r.digest}\n  already there with everything it references: nothing copied; ${said.join(', ')}\n`;
  }
  const mb = (r.blobs.bytes / 1e6).toFixed(1);
  const parts = [
    `${r.blobs.stored} blob(s) copied (${mb} MB)`,
    ...(r.blobs.existed > 0 ? [`${r.blobs.existed} blob(s) already there`] : []),
    ...(r.manifests.existed > 0 ? [`${r.manifests.existed} manifest(s) already there`] : []),
    ...(r.blobs.mounted > 0 ? [`${r.blobs.mounted} mounted`] : []),
    ...(r.blobs.skippedForeign > 0 ? [`${r.blobs.skippedForeign} foreign layer(s) left at their URLs`] : []),
    ...(brought > 0 ? [`${brought} signature(s)/attestation(s) copied`] : []),
    ...heldSaid,
  ];
  return `${dst} ${r.digest}\n  ${parts.join(', ')}\n`;
}
