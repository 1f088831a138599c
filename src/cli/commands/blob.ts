/** `provenant blob REPO DIGEST`: one blob, checked against its digest, to standard output or a file. */
import { ProvenantError } from '../../errors.ts';
import { writeFileAtomic } from '../../io/files.ts';
import { collect } from '../../io/verify.ts';
import { isDigest } from '../../oci/digest.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { outputFlag, positional, REGISTRY_FLAGS, requireOutputFolder } from '../options.ts';
import { withStores } from '../stores.ts';

/**
 * Blobs up to this size go to standard output only once their digest checked out; larger ones
 * stream, and a mismatch found at the end is said after their bytes (a pipe cannot take back
 * what it was given, and holding gigabytes of layer is no better). -o FILE is always checked first.
 */
const HELD_BLOB_LIMIT = 64 * 1024 * 1024;

export const spec: CommandSpec = {
  summary: 'write a blob to standard output (or -o FILE), checked against its digest',
  usage: 'provenant blob REPO DIGEST [-o FILE]',
  prints: 'data',
  flags: {
    output: outputFlag(
      'write to this file instead of standard output (written only once checked; on standard output a blob over 64 MiB streams, checked at its end)',
    ),
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text, digestText] = positional(args, 2, spec.usage) as [string, string];
  // A malformed digest typed on the command line is a usage error (exit 2), as in `digest REF@...`.
  if (!isDigest(digestText)) {
    throw new ProvenantError('USAGE', `${JSON.stringify(digestText)} is not a sha256 or sha512 digest`, {
      where: 'the DIGEST argument',
      hint: 'a digest looks like sha256:<64 lower-case hex digits>',
    });
  }
  const digest = digestText;
  const out = args.values.output as string | undefined;
  const toStdout = out === undefined || out === '-';
  if (!toStdout) requireOutputFolder(out);
  await withStores(args, io, [text], async (stores) => {
    const opened = await stores.open(text);
    const stat = await opened.store.statBlob(digest, { signal: io.signal });
    if (stat === undefined) throw new ProvenantError('NOT_FOUND', `blob ${digest} is not there`, { where: opened.store.location });
    const stream = await opened.store.readBlob(stat, { signal: io.signal });
    // A file is written under a temporary name and renamed only once the digest checked out.
    if (!toStdout) return writeFileAtomic(out, stream, { signal: io.signal });
    if (stat.size <= HELD_BLOB_LIMIT) {
      // Held until checked: bytes that do not match never reach the reader.
      io.stdout.write(await collect(stream, HELD_BLOB_LIMIT, `${opened.store.location}@${digest}`));
      return;
    }
    try {
      // A reader that went away (`| head -c N`) ends the download too.
      for await (const chunk of stream) {
        io.stdout.write(chunk);
        if (!(await io.stdout.flushed())) break;
      }
    } catch (err) {
      if (err instanceof ProvenantError && (err.code === 'DIGEST_MISMATCH' || err.code === 'SIZE_MISMATCH')) {
        throw new ProvenantError(err.code, err.message, {
          where: err.where,
          hint: 'the bytes already written to standard output are not the blob: discard them (-o FILE writes nothing unchecked)',
          cause: err,
        });
      }
      throw err;
    }
  });
}
