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

/** Bytes moved between two collections. */
export const COLLECT_EVERY = 32 * 1024 * 1024;

let moved = 0;
let collect: GcFunction | null | undefined;

/**
 * Counts `n` bytes read or written; asks V8 for a collection every `every` bytes
 * ({@link COLLECT_EVERY} unless said: a thread whose heap is small collects cheaply, and so can
 * collect more often).
 */
export function noteBytesMoved(n: number, every = COLLECT_EVERY): void {
  moved += n;
  if (moved < every) return;
  collectGarbage();
}

/** Records made and dropped between two collections ({@link noteRecordsDropped}). */
export const COLLECT_EVERY_RECORDS = 8000;

let dropped = 0;

/**
 * Counts `n` records (a file's entry and node, its line in a list) that were made and are
 * garbage now; asks V8 for a full collection every {@link COLLECT_EVERY_RECORDS}. A build that
 * keeps nothing per file still makes a few objects per file and drops them; those that lived
 * through a young collection are left in the old generation, which V8 lets grow by about half
 * before it collects it, so that the heap grew with the image's files. A full collection of a
 * heap of a dozen MB takes a few milliseconds, and the 30,000 files of the 1 GB bench image make
 * four of them.
 */
export function noteRecordsDropped(n: number): void {
  dropped += n;
  if (dropped < COLLECT_EVERY_RECORDS) return;
  dropped = 0;
  collectGarbage();
}

let asked = 0;

/** How many collections this process asked for so far (what tests of the policy count: V8's own are not). @internal */
export function collectionsAsked(): number {
  return asked;
}

/**
 * Asks V8 for a full collection now, where a program knows that much of what it made is no
 * longer needed: between the steps of a large build, whose records of every file of the image
 * would otherwise pile up, dead, until V8 decides on a collection of its own, which it does not
 * before the old generation has grown by about half. A collection takes time in proportion to
 * the heap: a few tens of milliseconds for a few tens of MB. With `shrink`, V8 also gives back the
 * pages it kept for reuse, for a step whose peak comes after a larger one's garbage.
 */
export function collectGarbage(options: { shrink?: boolean } = {}): void {
  moved = 0;
  asked++;
  if (collect === undefined) {
    const exposed = (globalThis as { gc?: GcFunction }).gc;
    try {
      if (exposed === undefined) process.getBuiltinModule('node:v8').setFlagsFromString('--expose-gc');
      collect = exposed ?? (process.getBuiltinModule('node:vm').runInNewContext('gc') as GcFunction);
    } catch {
      collect = null;
    }
  }
  // V8's gc extension takes a kind of collection; a V8 that does not know one runs a full collection.
  if (options.shrink === true) collect?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  else collect?.();
}

/**
 * V8's `gc` (with `--expose-gc`). With `flavor: 'last-resort'` it collects as V8 does before giving
 * up for want of memory: everything it can, then it gives the pages it had kept for reuse back to
 * the system, which a full collection of its own does not.
 */
type GcFunction = (options?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * Keeps V8's young generation at the size it starts with, for the rest of the process: for a
 * program that builds an image (the CLI's `build`), not for a library's host, whose process this
 * is not.
 *
 * A build holds a few records per file of the image (its entry, its node in the tree, its line
 * of the package database), about 1.2 KB each, from when its package is read until the layer is
 * written. V8 takes that many objects surviving its young collections as a reason to double the
 * young generation, up to two semi-spaces of 64 MiB on a machine of 24 GiB: a warm build of an
 * image of 30,000 files had 134 MB of young generation holding 2 to 12 MB of objects, and the
 * CLI's peak RSS grew with the image (325-333 MB, against 222-231 MB with this). V8 reads the
 * growth factor at each growth, so it can be set while running, unlike the maximum (start-up
 * only). The warm builds of the 200 MB and 1 GB bench images took no longer with it.
 */
export function holdYoungGeneration(): void {
  try {
    process.getBuiltinModule('node:v8').setFlagsFromString('--semi-space-growth-factor=1');
  } catch {
    // Without it the peak is higher, and nothing else changes.
  }
}

/**
 * Buffers handed from the code that made them to a single consumer that writes them out, with the
 * bytes of their views not yet written: see {@link handOver}.
 */
const handedOver = new WeakMap<ArrayBuffer, { left: number }>();

/**
 * Says that `view`'s bytes go from here to one consumer, which reads them once to write them out
 * (a layer's compressed blocks, on their way to the cache file), and that nothing else keeps them:
 * once every view handed over from one buffer is {@link writtenOut}, the buffer is freed at once
 * instead of when V8 next collects (a layer made again reads its compressed blocks back from the
 * cache, a few hundred MB of buffers of its own for a large image). Shared memory is not handed
 * over, and a consumer that never calls `writtenOut` (a layer kept in memory) leaves the buffer
 * to V8 as before.
 */
export function handOver(view: Uint8Array): void {
  const buffer = view.buffer;
  if (!(buffer instanceof ArrayBuffer) || buffer.resizable) return;
  const left = handedOver.get(buffer);
  if (left === undefined) handedOver.set(buffer, { left: view.byteLength });
  else left.left += view.byteLength;
}

/**
 * Says that `view`, handed over ({@link handOver}), is written out and will not be read again:
 * when it was the last of its buffer's views still to be written, the buffer is detached
 * (`ArrayBuffer.prototype.transfer(0)`), which gives its memory back now. A view not handed over
 * is left as it is. True when the buffer was freed.
 */
export function writtenOut(view: Uint8Array): boolean {
  const buffer = view.buffer;
  if (!(buffer instanceof ArrayBuffer)) return false;
  const left = handedOver.get(buffer);
  if (left === undefined) return false;
  left.left -= view.byteLength;
  if (left.left > 0) return false;
  handedOver.delete(buffer);
  buffer.transfer(0);
  return true;
}
