/**
 * Keeping the memory of long transfers bounded. File and socket reads give a fresh buffer each,
 * which lives outside V8's heap, and V8 collects such buffers only once about 64 MiB of them have
 * piled up since its last collection: a copy of 257 MB peaked at 150 MB of RSS, 60 MB of it
 * buffers already read and sent (issue 16, "copy memory"). So code that moves many bytes counts
 * them here, and every {@link COLLECT_EVERY} bytes a collection is asked for: a full collection
 * of a heap of a few tens of MB takes a few milliseconds, a few dozen per gigabyte moved.
 *
 * V8 offers collections only with `--expose-gc`; the flag is set when first needed, which exposes
 * `gc` in new contexts (one of which this module makes to take it), not in the program's own
 * global scope. Where that cannot be done, nothing is collected early and nothing fails.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Bytes moved between two collections. */
export const COLLECT_EVERY = 32 * 1024 * 1024;

let moved = 0;
let collect: (() => void) | null | undefined;

/** Counts `n` bytes read or written; asks V8 for a collection every {@link COLLECT_EVERY} bytes. */
export function noteBytesMoved(n: number): void {
  moved += n;
  if (moved < COLLECT_EVERY) return;
  moved = 0;
  if (collect === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    try {
      if (exposed === undefined) setFlagsFromString('--expose-gc');
      collect = exposed ?? (runInNewContext('gc') as () => void);
    } catch {
      collect = null;
    }
  }
  collect?.();
}
