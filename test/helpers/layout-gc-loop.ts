// A separate process for the concurrency tests of the OCI layout store: it collects garbage in
// the layout DIR again and again until the file STOP exists, then prints how many rounds it ran
// and what they removed as one JSON line. After each round it checks that every tagged image is
// whole (each manifest and blob it reaches is there), so a tag that points at something gc took
// is caught when it happens. It waits for the layout to exist first (the copies it runs beside
// may be creating it). Any error ends it with status 1 and the error on stderr.
//
//   node test/helpers/layout-gc-loop.ts DIR STOP
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProvenantError } from '../../src/errors.ts';
import { children } from '../../src/oci/content.ts';
import { isManifestLike } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { LayoutStore } from '../../src/store/layout.ts';

async function checkWhole(store: LayoutStore, d: Descriptor): Promise<void> {
  if ((await store.statBlob(d.digest)) === undefined) throw new Error(`${d.digest} is gone, but a tag reaches it`);
  if (!isManifestLike(d.mediaType)) return;
  for (const child of children(await store.getManifest(d.digest))) await checkWhole(store, child);
}

const [dir, stop] = process.argv.slice(2);
if (dir === undefined || stop === undefined) {
  console.error('usage: layout-gc-loop.ts DIR STOP');
  process.exit(2);
}

let rounds = 0;
let removed = 0;
try {
  while (!existsSync(stop)) {
    let store: LayoutStore;
    try {
      store = await LayoutStore.open(dir);
    } catch (err) {
      if (isProvenantError(err, 'NOT_FOUND')) {
        await sleep(5);
        continue;
      }
      throw err;
    }
    const result: unknown = await store.gc();
    rounds++;
    // gc has just read index.json; a copy may tag more since, which is checked next round.
    for (const entry of store.index.manifests) await checkWhole(store, entry);
    // The result is the removed digests and partial files; count what was deleted.
    if (Array.isArray(result)) removed += result.length;
    else removed += (result as { removed: unknown[] }).removed.length;
    await store.close();
    // A short pause, random, so writers waiting for the lock get their turn between rounds.
    await sleep(Math.random() * 10);
  }
  process.stdout.write(`${JSON.stringify({ rounds, removed })}\n`);
} catch (err) {
  console.error(err);
  process.exit(1);
}
