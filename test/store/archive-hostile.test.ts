// Hostile archives (issue 9): generated tars of symlinks, hardlinks, `..` and absolute names,
// long (PAX) names, repeated entries, devices and FIFOs, opened with every archive opener under a
// sandboxed TMPDIR. Nothing outside the opener's own temporary folder may be made, changed or
// read, the temporary folder must be left empty, and every failure must be a ProvenantError.
// And the other side: where links stay inside, the reader finds what GNU tar extracts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type TarEntryType, type TarWriteEntry, tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { isProvenantError } from '../../src/errors.ts';
import { collect } from '../../src/io/verify.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { digestHex, digestOf } from '../../src/oci/digest.ts';
import { openOciArchive } from '../../src/store/archive.ts';
import { DockerArchiveStore } from '../../src/store/docker-archive.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.ts';
import { useTempDir } from '../helpers/temp.ts';

// Deep enough that no generated archive can climb above the sandbox even through a reader that
// follows links: each link climbs at most as many folders as its target has `..` parts (6) or, as
// a relative link made for a hardlink, its name has parts (names are cut to 8), and there are at
// most 8 links.
const DEPTH = 80;
const MAX_PARTS = 8;
const RUNS = Number(process.env.PROVENANT_FUZZ_RUNS ?? 150);

/** `@HEX@` is the hex of a canary's digest; `@ABS@` the sandbox folder just above TMPDIR. */
const COMPONENTS = ['a', 'b', 'c', 'up', 'q', 'blobs', 'sha256', '@HEX@', 'ESCAPED', 'secret', 'index.json', 'manifest.json'];
const component = fc.oneof(
  { weight: 24, arbitrary: fc.constantFrom(...COMPONENTS) },
  { weight: 3, arbitrary: fc.constantFrom('..', '.', '') },
  // Over 100 bytes (a PAX path record) and non-ASCII (also PAX).
  { weight: 1, arbitrary: fc.constantFrom('L'.repeat(120), 'ü', 'ñ'.repeat(60)) },
);
const anchor = fc.oneof({ weight: 12, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('./', '/', '@ABS@/') });
const type: fc.Arbitrary<TarEntryType> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom<TarEntryType>('file', 'file', 'dir', 'symlink', 'symlink', 'symlink', 'hardlink') },
  { weight: 1, arbitrary: fc.constantFrom<TarEntryType>('char', 'block', 'fifo') },
);

interface EntrySpec {
  /** An earlier entry whose name this one extends (-2: the one before), so entries land beneath links. */
  parent: number;
  anchor: string;
  parts: string[];
  type: TarEntryType;
  /**
   * The link target: `anchor`, `ups` times `../` (-1: as many as the link's name has folders, the
   * most a lexical check lets through), then `parts`.
   */
  link: { anchor: string; ups: number; parts: string[] };
  body: string;
}
interface ArchiveSpec {
  oci: boolean;
  docker: boolean;
  entries: EntrySpec[];
  /** Paths manifest.json names as config and layers: an entry's name (when `ref` is one) and more parts. */
  named: Array<{ ref: number; parts: string[] }>;
}

const entrySpec: fc.Arbitrary<EntrySpec> = fc.record({
  parent: fc.oneof(
    { weight: 2, arbitrary: fc.constant(-2) },
    { weight: 1, arbitrary: fc.constant(-1) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 }) },
  ),
  anchor,
  parts: fc.array(component, { minLength: 1, maxLength: 4 }),
  type,
  link: fc.record({ anchor, ups: fc.integer({ min: -1, max: 4 }), parts: fc.array(component, { maxLength: 2 }) }),
  body: fc.string({ maxLength: 40 }),
});
const mostly = fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });
const archiveSpec: fc.Arbitrary<ArchiveSpec> = fc.record({
  oci: mostly,
  docker: mostly,
  entries: fc.array(entrySpec, { maxLength: 8 }),
  named: fc.array(fc.record({ ref: fc.integer({ min: -1, max: 9 }), parts: fc.array(component, { maxLength: 3 }) }), {
    minLength: 1,
    maxLength: 3,
  }),
});

/** The attacks of issue 9, tried first on every run of the suite. */
const known: ArchiveSpec[] = [
  // Write: a link reached through a link climbs three folders more than its name says.
  {
    oci: true,
    docker: true,
    entries: [
      { parent: -1, anchor: '', parts: ['a', 'b', 'c', 'up'], type: 'symlink', link: { anchor: '', ups: 3, parts: [] }, body: '' },
      { parent: 0, anchor: '', parts: ['q'], type: 'symlink', link: { anchor: '', ups: 3, parts: [] }, body: '' },
      { parent: 1, anchor: '', parts: ['ESCAPED'], type: 'file', link: { anchor: '', ups: 0, parts: ['x'] }, body: 'pwned' },
    ],
    named: [{ ref: -1, parts: ['a', 'b', 'c', 'up', 'q', 'secret'] }],
  },
  // Read: the blob named by the canary's digest is a link to the canary.
  {
    oci: true,
    docker: false,
    entries: [
      { parent: -1, anchor: '', parts: ['a', 'b', 'c', 'up'], type: 'symlink', link: { anchor: '', ups: 3, parts: [] }, body: '' },
      { parent: 0, anchor: '', parts: ['q'], type: 'symlink', link: { anchor: '', ups: 3, parts: [] }, body: '' },
      {
        parent: -1,
        anchor: '',
        parts: ['blobs', 'sha256', '@HEX@'],
        type: 'symlink',
        link: { anchor: '', ups: 2, parts: ['a', 'b', 'c', 'up', 'q', 'secret'] },
        body: '',
      },
    ],
    named: [{ ref: -1, parts: ['x'] }],
  },
  // blobs -> an absolute folder, and an absolute hardlink.
  {
    oci: true,
    docker: true,
    entries: [
      { parent: -1, anchor: '', parts: ['blobs'], type: 'symlink', link: { anchor: '@ABS@/', ups: 0, parts: ['.'] }, body: '' },
      { parent: -1, anchor: '', parts: ['blobs', 'sha256', '@HEX@'], type: 'file', link: { anchor: '', ups: 0, parts: ['x'] }, body: 'x' },
      { parent: -1, anchor: '', parts: ['l'], type: 'hardlink', link: { anchor: '@ABS@/', ups: 0, parts: ['secret'] }, body: '' },
    ],
    named: [
      { ref: 2, parts: [] },
      { ref: 0, parts: ['@HEX@'] },
    ],
  },
];

function realize(spec: ArchiveSpec, sandbox: Sandbox, hex: string): TarWriteEntry[] {
  const fill = (s: string): string => s.replaceAll('@HEX@', hex).replaceAll('@ABS@', sandbox.levels.at(-1)!);
  const text = (s: string): Uint8Array => new TextEncoder().encode(fill(s));
  const out: TarWriteEntry[] = [];
  if (spec.oci) {
    out.push({ header: tarHeader({ name: 'oci-layout', size: 30 }), body: text('{"imageLayoutVersion":"1.0.0"}') });
    const index = text(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${hex}`,
            size: 1,
            annotations: { 'org.opencontainers.image.ref.name': 'x' },
          },
        ],
      }),
    );
    out.push({ header: tarHeader({ name: 'index.json', size: index.length }), body: index });
  }
  const names: string[] = [];
  for (const [i, e] of spec.entries.entries()) {
    const own = e.parts.join('/');
    const p = e.parent === -2 ? i - 1 : e.parent;
    const parent = p >= 0 && p < i ? `${names[p]!.replace(/\/+$/, '')}/` : '';
    const name =
      fill(parent === '' ? `${e.anchor}${own}` : `${parent}${own}`)
        .split('/')
        .slice(0, MAX_PARTS)
        .join('/') || 'a';
    names.push(name);
    const ups = e.link.ups >= 0 ? e.link.ups : Math.min(4, name.split('/').filter((x) => x !== '' && x !== '.').length - 1);
    const linkname = fill(`${e.link.anchor}${'../'.repeat(Math.max(0, ups))}${e.link.parts.join('/')}`) || '.';
    if (e.type === 'file') {
      const body = text(e.body);
      out.push({ header: tarHeader({ name, size: body.length }), body });
    } else if (e.type === 'symlink' || e.type === 'hardlink') out.push({ header: tarHeader({ name, type: e.type, linkname }) });
    else out.push({ header: tarHeader({ name, type: e.type, mode: e.type === 'dir' ? 0o755 : 0o644 }) });
  }
  if (spec.docker) {
    const [config, ...layers] = spec.named.map(({ ref, parts }) =>
      fill([...(ref >= 0 && ref < names.length ? [names[ref]!] : []), ...parts].join('/') || 'x'),
    );
    const manifest = text(JSON.stringify([{ Config: config, RepoTags: ['x:1'], Layers: layers }]));
    out.push({ header: tarHeader({ name: 'manifest.json', size: manifest.length }), body: manifest });
  }
  return out;
}

/** Reads everything a store offers; a successful read of a canary's bytes is a leak. */
async function exercise(store: ContentStore, sandbox: Sandbox, targets: string[]): Promise<void> {
  try {
    for (const digest of sandbox.canaryDigests) {
      const d = await store.statBlob(digest as Digest);
      if (d === undefined) continue;
      const read = await store.readBlob(d).then(
        (s) => collect(s, 1 << 20, 'test').then(() => true),
        () => false,
      );
      assert.equal(read, false, `the store read the host file with digest ${digest}`);
    }
    for (const target of [...targets, ...(await store.listTags())]) {
      const stored = await store.getManifest(target).catch(expectTyped);
      if (stored === undefined || stored.kind !== 'manifest') continue;
      for (const d of [stored.manifest.config, ...stored.manifest.layers]) {
        assert.ok(!sandbox.canaryDigests.has(d.digest), `the store offers the host file ${d.digest} as a blob`);
        await collect(await store.readBlob(d), 1 << 20, 'test').catch(expectTyped);
      }
    }
  } finally {
    await store.close();
  }
}

function expectTyped(err: unknown): undefined {
  if (err instanceof assert.AssertionError) throw err;
  assert.ok(isProvenantError(err), `a failure that is not a ProvenantError: ${(err as Error)?.stack ?? String(err)}`);
  assert.ok(err.message.length > 0);
  return undefined;
}

const tempDir = useTempDir('hostile');

describe('hostile archives', { timeout: 600_000 }, () => {
  it('never make, change or read anything outside the opener’s temporary folder', async () => {
    const archives = await tempDir();
    // One sandbox for every run, made again whenever a run changed it (so shrinking starts clean).
    const sandbox = await makeSandbox(await tempDir(), DEPTH);
    const secret = sandbox.canaries.get(join(sandbox.levels.at(-1)!, 'secret'))!;
    const hex = digestHex(digestOf(secret));
    let n = 0;
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(archiveSpec, async (spec) => {
        const path = join(archives, `a${n++}.tar`);
        await writeFile(path, await tarBytes(realize(spec, sandbox, hex), { unsafeNames: true }));
        const openers: Array<[string, () => Promise<void>]> = [
          ['oci-archive', async () => exercise(await openOciArchive(path), sandbox, [`sha256:${hex}`])],
          ['oci-archive write', async () => (await openOciArchive(path, { write: true })).close()],
          ['docker-archive', async () => exercise(await DockerArchiveStore.open(path), sandbox, ['x:1'])],
        ];
        try {
          for (const [what, open] of openers) {
            const outcome = await sandbox.withTmp(() =>
              open().then(
                () => 'ok',
                (err: unknown) => {
                  expectTyped(err);
                  return (err as { code: string }).code;
                },
              ),
            );
            outcomes.set(`${what}: ${outcome}`, (outcomes.get(`${what}: ${outcome}`) ?? 0) + 1);
            assert.deepEqual(await sandbox.changes(), [], `${what} made or changed nothing outside its temporary folder`);
            assert.deepEqual(await sandbox.leftInTmp(), [], `${what} left its temporary folder empty`);
          }
        } catch (err) {
          await sandbox.reset();
          throw err;
        } finally {
          await rm(path, { force: true });
        }
      }),
      { numRuns: RUNS, examples: known.map((k) => [k]) },
    );
    // The generator reaches both the readers' success paths and their refusals.
    const seen = [...outcomes.keys()];
    assert.ok(
      seen.some((k) => k.endsWith('UNSAFE_PATH')),
      seen.join(', '),
    );
    assert.ok(
      seen.some((k) => k === 'oci-archive: ok'),
      seen.join(', '),
    );
  });

  it('read what GNU tar would extract when links stay inside the archive', async () => {
    const work = await tempDir();
    let n = 0;
    let throughLinks = 0;
    await fc.assert(
      fc.asyncProperty(benignSpec, fc.array(fc.nat(), { minLength: 2, maxLength: 4 }), async (spec, picks) => {
        const dir = join(work, `r${n++}`);
        await mkdir(dir);
        try {
          const entries = realizeBenign(spec);
          // The oracle: GNU tar extracts the members, and the host resolves the links.
          const tree = join(dir, 'tree');
          await mkdir(tree);
          await writeFile(join(dir, 'members.tar'), await tarBytes(entries, { unsafeNames: true }));
          const r = spawnSync('tar', ['-xf', join(dir, 'members.tar'), '-C', tree]);
          assert.equal(r.status, 0, String(r.stderr));
          const readable: Array<{ path: string; digest: string }> = [];
          for (const path of candidates(spec)) {
            const bytes = await readFile(join(tree, path)).catch(() => undefined);
            if (bytes !== undefined) readable.push({ path, digest: digestOf(bytes) });
          }
          fc.pre(readable.length > 0);
          const named = picks.map((i) => readable[i % readable.length]!);
          if (named.some((x) => /(^|\/)l\d/.test(x.path))) throughLinks++;
          const manifest = new TextEncoder().encode(
            JSON.stringify([{ Config: named[0]!.path, RepoTags: ['x:1'], Layers: named.slice(1).map((x) => x.path) }]),
          );
          const archive = join(dir, 'saved.tar');
          await writeFile(
            archive,
            await tarBytes([...entries, { header: tarHeader({ name: 'manifest.json', size: manifest.length }), body: manifest }], {
              unsafeNames: true,
            }),
          );
          const store = await DockerArchiveStore.open(archive);
          try {
            const stored = await store.getManifest('x:1');
            assert.ok(stored.kind === 'manifest');
            const got = [stored.manifest.config, ...stored.manifest.layers];
            assert.deepEqual(
              got.map((d) => d.digest),
              named.map((x) => x.digest),
            );
            for (const d of got) await collect(await store.readBlob(d), 1 << 20, 'test');
          } finally {
            await store.close();
          }
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
    assert.ok(throughLinks > 0, 'some manifest.json paths lead through links');
  });
});

/** Files, and links to files, folders and earlier links, all inside the archive; no name repeats. */
interface BenignSpec {
  files: Array<{ dirs: string[]; body: string }>;
  links: Array<{ dirs: string[]; hard: boolean; to: number; kind: 'file' | 'link' | 'dir'; climb: boolean }>;
}
const folders = fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 3 });
const benignSpec: fc.Arbitrary<BenignSpec> = fc.record({
  files: fc.array(fc.record({ dirs: folders, body: fc.string({ maxLength: 20 }) }), { minLength: 1, maxLength: 5 }),
  links: fc.array(
    fc.record({ dirs: folders, hard: fc.boolean(), to: fc.nat(), kind: fc.constantFrom('file', 'link', 'dir'), climb: fc.boolean() }),
    { maxLength: 6 },
  ),
});

const fileName = (spec: BenignSpec, i: number): string => [...spec.files[i]!.dirs, `f${i}`].join('/');
const linkName = (spec: BenignSpec, j: number): string => [...spec.links[j]!.dirs, `l${j}`].join('/');

function realizeBenign(spec: BenignSpec): TarWriteEntry[] {
  const out: TarWriteEntry[] = spec.files.map((f, i) => {
    const body = new TextEncoder().encode(f.body);
    return { header: tarHeader({ name: fileName(spec, i), size: body.length }), body };
  });
  for (const [j, l] of spec.links.entries()) {
    const name = linkName(spec, j);
    const file = fileName(spec, l.to % spec.files.length);
    // A hardlink names a file from the root; a symlink a file, an earlier symlink or a folder.
    if (l.hard) {
      out.push({ header: tarHeader({ name, type: 'hardlink', linkname: file }) });
      continue;
    }
    const earlier = spec.links.slice(0, j).flatMap((x, k) => (x.hard ? [] : [linkName(spec, k)]));
    let target = file;
    if (l.kind === 'link' && earlier.length > 0) target = earlier[l.to % earlier.length]!;
    if (l.kind === 'dir') target = spec.files[l.to % spec.files.length]!.dirs.join('/') || '.';
    const from = posix.dirname(name);
    // Either the shortest relative path, or up to the root and down again.
    const linkname = l.climb ? `${'../'.repeat(from === '.' ? 0 : from.split('/').length)}${target}` : posix.relative(from, target) || '.';
    out.push({ header: tarHeader({ name, type: 'symlink', linkname }) });
  }
  return out;
}

/** Paths a manifest.json may name: every member, and each file's name through each link. */
function candidates(spec: BenignSpec): string[] {
  const out = [...spec.files.map((_, i) => fileName(spec, i)), ...spec.links.map((_, j) => linkName(spec, j))];
  for (const [j] of spec.links.entries()) for (const [i] of spec.files.entries()) out.push(`${linkName(spec, j)}/f${i}`);
  return out;
}
