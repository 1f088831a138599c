/**
 * `provenant gc oci:DIR`: the referrers of images nothing else keeps, dropped from index.json;
 * then unreferenced blobs and partial files of a layout, deleted.
 */
import { ProvenantError } from '../../errors.ts';
import { parseLocation } from '../../ref/location.ts';
import { LayoutStore } from '../../store/layout.ts';
import { WRITER_PREFIX } from '../../store/layout-lock.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, positional, writeJson } from '../options.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: "delete a layout's unreferenced blobs and partial writes, first dropping from index.json referrers of images nothing keeps",
  usage: 'provenant gc [--dry-run] oci:DIR',
  prints: 'result',
  flags: {
    'dry-run': {
      type: 'boolean',
      short: 'n',
      description:
        'list what gc would remove (index.json entries, blobs with their sizes, partial files, lists of dead writers, the total) and change nothing',
    },
    format: FORMAT_FLAG,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  let location: ReturnType<typeof parseLocation> | undefined;
  try {
    location = parseLocation(text);
  } catch (err) {
    // A path such as ./lay or /tmp/lay is no image reference: the same answer as below. One
    // written with oci: is a layout named wrongly, which the parser's words say best.
    if (text.startsWith('oci:')) throw err;
  }
  if (location?.kind !== 'oci') {
    const folder = process.getBuiltinModule('node:fs').statSync(text, { throwIfNoEntry: false })?.isDirectory() === true;
    throw new ProvenantError('USAGE', 'gc works on an OCI layout (oci:DIR)', {
      where: text,
      hint: folder
        ? `for the layout in the folder ${text} write: provenant gc oci:${text}`
        : 'name the layout folder with its prefix: provenant gc oci:DIR',
    });
  }
  // gc keeps whatever any tag, digest or referrer of the layout reaches and deletes the rest: it
  // has no meaning for one image. Taken silently, `oci:DIR:TAG` read as a request to collect (or
  // to keep) that tag alone, while the whole layout was collected.
  if (location.tag !== undefined || location.digest !== undefined) {
    throw new ProvenantError('USAGE', 'gc works on a whole layout, not on one of its images', {
      where: text,
      hint: `name the layout alone: provenant gc oci:${location.path} (it keeps every tagged image and what they use)`,
    });
  }
  // Waits for the layout's lock (another writer, another gc) saying so, and stops at Ctrl-C.
  const store = await LayoutStore.open(location.path, { signal: io.signal, logger: warningLogger(io) });
  try {
    const dryRun = args.values['dry-run'] === true;
    const r = await store.gc({ logger: warningLogger(io), dryRun });
    const mb = (n: number) => (n / 1e6).toFixed(1);
    // What went from index.json is said: cosign's tags are tags, and `tags` no longer lists them.
    const dropped = [
      ...(r.dropped.length > 0 ? [`${r.dropped.length} untagged referrer(s)`] : []),
      ...(r.droppedTags.length > 0 ? [`${r.droppedTags.length} cosign tag(s) (${r.droppedTags.join(', ')})`] : []),
    ];
    // The lists of writers gone are counted among partials (GcResult) but are not partial files:
    // they are named as what they are, and counted apart where there are any.
    const isList = (f: { path: string }) => f.path.startsWith(WRITER_PREFIX);
    const lists = r.partials.files.filter(isList).length;
    const leftovers = `${r.partials.count - lists} partial file(s)${lists > 0 ? ` and ${lists} list(s) of dead writers` : ''} (${mb(r.partials.bytes)} MB)`;
    if (format === 'json') writeJson(io, r);
    else if (dryRun) {
      // One line per thing that would go, then the total, as the real run says it.
      const lines = [
        ...r.dropped.map((d) => `would drop from index.json: untagged referrer ${d}`),
        ...r.droppedTags.map((t) => `would drop from index.json: cosign tag ${t}`),
        ...r.blobs.map((b) => `would remove blob ${b.digest} (${b.size} bytes)`),
        ...r.partials.files.map((f) => `would remove ${isList(f) ? "a dead writer's list" : 'partial file'} ${f.path} (${f.size} bytes)`),
        `would remove ${r.removed.length} blob(s) (${mb(r.removedBytes)} MB) and ${leftovers}${dropped.length > 0 ? `; would drop from index.json ${dropped.join(' and ')} of images in the layout that nothing else keeps` : ''}; nothing was changed (dry run)`,
      ];
      io.stdout.write(`${lines.join('\n')}\n`);
    } else
      io.stdout.write(
        `removed ${r.removed.length} blob(s) (${mb(r.removedBytes)} MB) and ${leftovers}${dropped.length > 0 ? `; dropped from index.json ${dropped.join(' and ')} of images in the layout that nothing else keeps` : ''}\n`,
      );
  } finally {
    await store.close();
  }
}
