// What the registry tests share: a store on a host, fast retries, a recording store (not a test file).
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import type { ContentStore } from '../../src/store/types.ts';

/** Fast retries for tests: the faults are injected, the waits need not be long. */
export const FAST_RETRY = { attempts: 5, baseDelayMs: 5, maxDelayMs: 50 } as const;

/** A store on `host` (a 127.0.0.1:PORT registry or proxy) for `repository`. */
export function storeAt(host: string, repository: string, options: RegistryClientOptions = {}): RegistryStore {
  return new RegistryStore(new RegistryClient(host, { retry: FAST_RETRY, ...options }), repository);
}

/** A ContentStore that records what every putBlob answered. */
export function recording(store: ContentStore): { store: ContentStore; results: Array<'stored' | 'exists' | 'mounted'> } {
  const results: Array<'stored' | 'exists' | 'mounted'> = [];
  const wrapped: ContentStore = {
    location: store.location,
    registryRepository: store.registryRepository,
    statBlob: (d, o) => store.statBlob(d, o),
    readBlob: (d, o) => store.readBlob(d, o),
    putBlob: async (s, o) => {
      const r = await store.putBlob(s, o);
      results.push(r);
      return r;
    },
    resolve: (t, o) => store.resolve(t, o),
    getManifest: (t, o) => store.getManifest(t, o),
    putManifest: (s, o) => store.putManifest(s, o),
    listTags: (o) => store.listTags(o),
    referrers: (s, o) => store.referrers(s, o),
    close: () => store.close(),
  };
  return { store: wrapped, results };
}

/** Reads a whole stream. */
export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}
