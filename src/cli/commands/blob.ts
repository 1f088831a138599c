/** `provenant blob REPO DIGEST`: one blob, checked against its digest, to standard output or a file. */
import { ProvenantError } from '../../errors.ts';
import { writeFileAtomic } from '../../io/files.ts';
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
    // What is held is counted in bytes received, not in the size the registry announced: a HEAD's
    // Content-Length is only its word, and one that says "huge" must not make unchecked bytes stream.
    const held: Uint8Array[] = [];
    let heldBytes = 0;
    let streaming = false;
    try {
      for await (const chunk of stream) {
        if (!streaming) {
          held.push(chunk);
          heldBytes += chunk.byteLength;
          if (heldBytes <= HELD_BLOB_LIMIT) continue;
          streaming = true;
          for (const c of held.splice(0)) io.stdout.write(c);
        } else io.stdout.write(chunk);
        // A reader that went away (`| head -c N`) ends the download too.
        if (!(await io.stdout.flushed())) return;
      }
    } catch (err) {
      if (streaming && err instanceof ProvenantError && (err.code === 'DIGEST_MISMATCH' || err.code === 'SIZE_MISMATCH')) {
        throw new ProvenantError(err.code, err.message, {
          where: err.where,
          hint: 'the bytes already written to standard output are not the blob: discard them (-o FILE writes nothing unchecked)',
          cause: err,
        });
      }
      throw err;
    }
    // The stream ended without error: the held bytes are the blob, checked (written chunk by
    // chunk: joined, up to HELD_BLOB_LIMIT would be held twice).
    if (!streaming) for (const c of held) io.stdout.write(c);
  });
}
