// A content store wrapped so that a test sees what the code under test asks of it (not a test file).
import type { ContentStore } from '../../src/store/types.ts';

/** `store`, recording the digest of every blob read from it, in order, in `reads`: to prove what a command never reads (layers, configs). */
export function countingReads(store: ContentStore): { store: ContentStore; reads: string[] } {
  const reads: string[] = [];
  const wrapped: ContentStore = {
    location: store.location,
    statBlob: (d, o) => store.statBlob(d, o),
    readBlob: (d, o) => {
      reads.push(d.digest);
      return store.readBlob(d, o);
    },
    putBlob: (s, o) => store.putBlob(s, o),
    resolve: (t, o) => store.resolve(t, o),
    getManifest: (t, o) => store.getManifest(t, o),
    putManifest: (m, o) => store.putManifest(m, o),
    listTags: (o) => store.listTags(o),
    referrers: (d, o) => store.referrers(d, o),
    close: () => store.close(),
  };
  return { store: wrapped, reads };
}
