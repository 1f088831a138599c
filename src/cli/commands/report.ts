/** `provenant report REF -o report.html`: one self-contained page about an image, its attachments, packages, provenance and verdicts. */
import { ProvenantError } from '../../errors.ts';
import { writeFileAtomic } from '../../io/files.ts';
import { DEFAULT_REPORT_TARGETS, gatherReport } from '../../report/gather.ts';
import { renderReport } from '../../report/html.ts';
import { VERSION } from '../../version.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import { profilesFrom, targetText } from '../compat.ts';
import { PROFILES_FLAG, TARGET_FLAG } from '../compat-flags.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, parseBool, positional, REGISTRY_FLAGS, requireOutputFolder, sourceDateEpoch } from '../options.ts';
import { withImage } from '../stores.ts';
import { visibleData, warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'write one self-contained HTML page about an image: attachments, signers, packages, provenance, verdicts',
  usage: 'provenant report REF -o report.html [--target T,...] [--format json]',
  prints: 'data',
  flags: {
    output: {
      type: 'string',
      short: 'o',
      description: 'the page to write, - for standard output (needed for the page; with --format json, the data, default standard output)',
    },
    target: {
      ...TARGET_FLAG,
      description: `${TARGET_FLAG.description}; default ${DEFAULT_REPORT_TARGETS.join(',')}; none for no verdicts`,
    },
    probe: {
      type: 'string',
      description: "ask the image's registry whether it has the referrers API: true (default) or false",
    },
    profiles: PROFILES_FLAG,
    // PROVENANT_FORMAT=text, the others' default, leaves report's own: html.
    format: {
      ...FORMAT_FLAG,
      values: ['html', 'json'],
      valuesElsewhere: ['text'],
      description: 'html (default) or json (the data the page is made from)',
    },
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const format = (args.values.format as string | undefined) ?? 'html';
  if (format !== 'html' && format !== 'json') throw new ProvenantError('USAGE', `--format must be html or json, not "${format}"`);
  const json = format === 'json';
  const output = args.values.output as string | undefined;
  // The page is a file to open (docs/report.md); standard output only when asked for, `-o -`.
  if (output === undefined && !json) {
    throw new ProvenantError('USAGE', 'report needs -o FILE: where to write the page (-o - for standard output)', {
      hint: `usage: ${spec.usage}`,
    });
  }
  const toStdout = output === undefined || output === '-';
  if (!toStdout) requireOutputFolder(output);
  const probe = parseBool((args.values.probe as string | undefined) ?? 'true', '--probe');
  const named = targetText(args);
  // `--target none`: no verdicts. gatherReport checks the names before it reads the image.
  const targets = named === undefined ? undefined : named === 'none' ? [] : named.split(',');
  const profiles = await profilesFrom(args);
  const data = await withImage(args, io, text, (store, target) =>
    gatherReport(store, target, {
      reference: text,
      targets,
      profiles,
      probe: probe ? 'auto' : false,
      toolVersion: VERSION,
      sourceDateEpoch: sourceDateEpoch(io),
      signal: io.signal,
      // What a store passes over while listing referrers (a layout's manifest that cannot be read) is said here.
      logger: warningLogger(io),
    }),
  );
  const body = json ? `${JSON.stringify(data, null, 2)}\n` : renderReport(data);
  if (toStdout) {
    io.stdout.write(visibleData(io.stdout, body));
    return;
  }
  await writeFileAtomic(output, body, { signal: io.signal });
  const verdict = data.compat === undefined ? '' : `; ${data.compat.targets.map((t) => `${t.target} ${t.verdict}`).join(', ')}`;
  io.stdout.write(`${output}: ${data.reference} (${data.platforms.length} platform(s)${verdict})\n`);
}
