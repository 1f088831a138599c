/** `provenant index create DST SRC...`: single-platform images from any stores merged into one index, with their referrers. */

import { ProvenantError } from '../../errors.ts';
import { createIndex, type EntryAnnotation, type IndexAttestations, type IndexSource } from '../../image/index-create.ts';
import { formatLocation, parseLocation } from '../../ref/location.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import { unknownSubcommand } from '../help.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, platformArg, QUIET_FLAG, REGISTRY_FLAGS } from '../options.ts';
import { progressReporter } from '../progress.ts';
import { parseLocationOrPath, targetOf, withStores } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'merge single-platform images (from any stores) into one image index, with their signatures and attestations',
  usage: 'provenant index create DST SRC... [--annotation KEY=VALUE]... [--attestations keep|buildkit|referrers]',
  prints: 'result',
  flags: {
    annotation: {
      type: 'string',
      multiple: true,
      description:
        'set an annotation of the merged index (KEY=VALUE or index:KEY=VALUE), or of its image entries (manifest-descriptor[os/arch]:KEY=VALUE); repeat for more',
    },
    attestations: {
      type: 'string',
      description:
        'keep (default: each where it is), buildkit (all as entries of the merged index) or referrers (BuildKit entries become referrers)',
    },
    concurrency: { type: 'string', description: 'parallel blob transfers per image (default 4)' },
    format: FORMAT_FLAG,
    quiet: QUIET_FLAG,
    ...REGISTRY_FLAGS,
  },
  subcommands: {
    create: {
      summary: 'merge single-platform images into one index, with their referrers, signatures and attestations',
      usage: 'provenant index create DST SRC... [--annotation KEY=VALUE]... [--attestations keep|buildkit|referrers]',
      flags: ['annotation', 'attestations', 'concurrency', 'format', 'quiet', ...Object.keys(REGISTRY_FLAGS)],
    },
  },
};

const MODES: readonly IndexAttestations[] = ['keep', 'buildkit', 'referrers'];

/** What `--annotation` values set: the merged index's annotations and its image entries'. */
interface Annotations {
  index: Record<string, string>;
  entries: EntryAnnotation[];
}

// docker buildx imagetools create's spelling: TYPE[,TYPE...]:KEY=VALUE, a type optionally with
// [PLATFORM]. A key's own colon after a dotted name (com.example:x) is no type.
const TYPED = /^([a-z-]+(?:\[[^\]]*\])?(?:,[a-z-]+(?:\[[^\]]*\])?)*):(.+)$/s;
const TYPE = /^([a-z-]+)(?:\[([^\]]*)\])?$/;
// The commas between types, not one inside a type's [...].
const TYPE_SEPARATOR = /,(?![^[]*\])/;

/**
 * `KEY=VALUE` pairs, for the index; `index:KEY=VALUE` the same, and
 * `manifest-descriptor[PLATFORM]:KEY=VALUE` for the image entries, as buildx spells them. The
 * types buildx knows that cannot apply here are refused with the reason, and so is any other
 * `word:` prefix, rather than kept as part of a key. A key given twice is a mistake, not a
 * silent override.
 */
function parseAnnotations(values: readonly string[]): Annotations {
  const out: Annotations = { index: {}, entries: [] };
  const seen = new Set<string>();
  for (const v of values) {
    const at = v.indexOf('=');
    if (at <= 0) throw new ProvenantError('USAGE', `--annotation takes KEY=VALUE, not ${JSON.stringify(v)}`);
    const value = v.slice(at + 1);
    const typed = TYPED.exec(v.slice(0, at));
    const key = typed?.[2] ?? v.slice(0, at);
    for (const type of typed?.[1]?.split(TYPE_SEPARATOR) ?? ['index']) {
      const [, name, platformText] = TYPE.exec(type) ?? [];
      if (platformText?.includes(',')) {
        // buildx reads one platform between the brackets (util/buildflags ParseAnnotations); a
        // list would be read by neither, so it is refused as a whole rather than in pieces.
        throw new ProvenantError('USAGE', `--annotation ${JSON.stringify(v)}: "${type}" names several platforms; a type takes one`, {
          hint: `give each platform its own type: ${platformText
            .split(',')
            .map((p) => `${name}[${p.trim()}]`)
            .join(',')}:${key}=VALUE`,
        });
      }
      if (name === 'index' && platformText === undefined) {
        if (seen.has(`index|${key}`)) throw new ProvenantError('USAGE', `--annotation ${key} is given twice`);
        seen.add(`index|${key}`);
        out.index[key] = value;
      } else if (name === 'manifest-descriptor') {
        const platform = platformText === undefined ? undefined : platformArg(platformText);
        const what = `manifest-descriptor${platformText === undefined ? '' : `[${platformText}]`}:${key}`;
        if (seen.has(what)) throw new ProvenantError('USAGE', `--annotation ${what} is given twice`);
        seen.add(what);
        out.entries.push({ key, value, platform });
      } else {
        throw annotationTypeRefused(type, name, v);
      }
    }
  }
  return out;
}

function annotationTypeRefused(type: string, name: string | undefined, given: string): ProvenantError {
  const why =
    name === 'manifest'
      ? 'it would change the platform images, and with them the digests their signatures and attestations name'
      : name === 'index-descriptor'
        ? 'the merged index is the top: no descriptor of it is written to annotate'
        : name === 'index'
          ? 'the index is one for every platform'
          : 'the annotation types are index and manifest-descriptor, as buildx names them';
  return new ProvenantError('USAGE', `--annotation ${JSON.stringify(given)}: "${type}" cannot be used here (${why})`, {
    hint: 'write KEY=VALUE or index:KEY=VALUE for the index, manifest-descriptor:KEY=VALUE or manifest-descriptor[os/arch]:KEY=VALUE for its image entries',
  });
}

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [sub, dstText, ...srcTexts] = args.positionals;
  if (sub === undefined) throw new ProvenantError('USAGE', 'index needs a subcommand', { hint: `usage: ${spec.usage}` });
  // A typo gets the closest subcommand, as apk's and help's do.
  if (sub !== 'create') throw await unknownSubcommand('index', spec, sub);
  if (dstText === undefined || srcTexts.length === 0) {
    throw new ProvenantError('USAGE', 'index create needs a destination and at least one source image', { hint: `usage: ${spec.usage}` });
  }
  const format = formatOf(args);
  const annotations = parseAnnotations((args.values.annotation as string[] | undefined) ?? []);
  if (parseLocationOrPath(dstText).kind === 'docker-archive') {
    // Refused before anything is read or written: the images and their signatures would be
    // written into the archive first (where two cosign tags of one name collide), and the index
    // last, which the format cannot hold.
    throw new ProvenantError('USAGE', 'index create writes an image index, and a docker-archive holds single-platform images only', {
      where: dstText,
      hint: 'write the index to oci:DIR, oci-archive:FILE or a registry; for docker load, copy one platform of it with provenant copy --platform os/arch SRC docker-archive:FILE',
    });
  }
  const mode = (args.values.attestations as string | undefined) ?? 'keep';
  if (!(MODES as readonly string[]).includes(mode)) {
    throw new ProvenantError('USAGE', `--attestations must be ${MODES.join(', ')}, not ${JSON.stringify(mode)}`);
  }
  const concurrency = args.values.concurrency === undefined ? 4 : Number(args.values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ProvenantError('USAGE', '--concurrency must be a positive whole number');
  const where = formatLocation(parseLocation(dstText));
  // The blobs copied in, as copy shows them (none with -q).
  const progress = progressReporter(io, { quiet: args.values.quiet === true, label: `merging into ${where}` });
  const result = await withStores(args, io, [...srcTexts, dstText], async (stores) => {
    const sources: IndexSource[] = [];
    for (const text of srcTexts) {
      const opened = await stores.open(text);
      sources.push({ store: opened.store, target: await targetOf(opened) });
    }
    const dst = await stores.open(dstText, { write: true, makes: 'index create' });
    return createIndex(
      sources,
      { store: dst.store, tags: dst.tags.length > 0 ? dst.tags : ['latest'] },
      {
        annotations: annotations.index,
        entryAnnotations: annotations.entries,
        attestations: mode as IndexAttestations,
        concurrency,
        signal: io.signal,
        onProgress: progress.update,
        logger: warningLogger(io),
      },
    );
  }).finally(() => progress.finish());
  if (format === 'json') {
    const { index, ...rest } = result;
    io.stdout.write(`${JSON.stringify({ location: where, ...rest, index: index.kind === 'index' ? index.index : undefined }, null, 2)}\n`);
    return;
  }
  const lines = [`${where}@${result.descriptor.digest}`];
  for (const p of result.platforms) lines.push(`  ${p.platform.padEnd(14)} ${p.digest}  from ${p.source}`);
  const entries =
    result.attestationEntries > 0
      ? `, ${result.attestationEntries} attestation entr${result.attestationEntries === 1 ? 'y' : 'ies'} in the index`
      : '';
  lines.push(`  ${result.referrers} referrer(s) and ${result.cosignTags} cosign tag(s) brought along${entries}`);
  io.stdout.write(`${lines.join('\n')}\n`);
}
