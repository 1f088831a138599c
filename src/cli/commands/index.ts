/** `provenant index create DST SRC...`: single-platform images from any stores merged into one index, with their referrers. */

import { ProvenantError } from '../../errors.ts';
import { createIndex, type IndexAttestations, type IndexSource } from '../../image/index-create.ts';
import { formatLocation, parseLocation } from '../../ref/location.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, QUIET_FLAG, REGISTRY_FLAGS } from '../options.ts';
import { progressReporter } from '../progress.ts';
import { targetOf, withStores } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'merge single-platform images (from any stores) into one image index, with their signatures and attestations',
  usage: 'provenant index create DST SRC... [--annotation KEY=VALUE]... [--attestations keep|buildkit|referrers]',
  prints: 'result',
  flags: {
    annotation: { type: 'string', multiple: true, description: 'set an annotation of the merged index (KEY=VALUE; repeat for more)' },
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

/** `KEY=VALUE` pairs; a key given twice is a mistake, not a silent override. */
function parseAnnotations(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const at = v.indexOf('=');
    if (at <= 0) throw new ProvenantError('USAGE', `--annotation takes KEY=VALUE, not ${JSON.stringify(v)}`);
    const key = v.slice(0, at);
    if (Object.hasOwn(out, key)) throw new ProvenantError('USAGE', `--annotation ${key} is given twice`);
    out[key] = v.slice(at + 1);
  }
  return out;
}

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [sub, dstText, ...srcTexts] = args.positionals;
  if (sub !== 'create') {
    throw new ProvenantError('USAGE', sub === undefined ? 'index needs a subcommand' : `index has no subcommand "${sub}"`, {
      hint: `usage: ${spec.usage}`,
    });
  }
  if (dstText === undefined || srcTexts.length === 0) {
    throw new ProvenantError('USAGE', 'index create needs a destination and at least one source image', { hint: `usage: ${spec.usage}` });
  }
  const format = formatOf(args);
  const annotations = parseAnnotations((args.values.annotation as string[] | undefined) ?? []);
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
        annotations,
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
  lines.push(`  ${result.referrers} referrer(s) and ${result.cosignTags} cosign tag(s) brought along`);
  io.stdout.write(`${lines.join('\n')}\n`);
}
