// An APKINDEX's cost once read grows with its packages and names, not with its bytes alone: the
// 512 MiB its text may hold listed 5.5 million packages and ran the heap out. An index listing
// more packages, names or field lines than are read into memory is refused with TOO_LARGE as it is
// inflated, at the line where a count went over, before the rest is inflated; one below the caps
// is read whole, its packages never passed as arguments (a spread of 250,000 overflowed the
// stack). The caps, and the text's, hold for the indexes a build reads together, of every
// architecture; a repository listed twice is read once.
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { isProvenantError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/io/types.ts';
import { readApkIndex } from '../../../src/pkg/apk/apkindex.ts';
import { generateApkKeyPair } from '../../../src/pkg/apk/keys.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';
import { type ApkSource, openApkSource } from '../../../src/pkg/apk/source.ts';

// The caps docs/security.md gives.
const ENTRIES_MAX = 500_000;
const NAMES_MAX = 5_000_000;
const FIELDS_MAX = 10_000_000;
const TEXT_MAX = 256 * 1024 * 1024;

/** `count` stanzas as short as an index allows, `extra` lines added to the first. */
function stanzas(count: number, extra = ''): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(`P:p${i}\nV:1.0-r0\nA:x86_64\nC:Q1${'A'.repeat(27)}=\n${i === 0 ? extra : ''}\n`);
  return out.join('');
}

/** An index of `text` in one gzip member, unsigned. */
async function indexOf(text: string): Promise<Uint8Array> {
  const body = new TextEncoder().encode(text);
  return gzipSync(await tarBytes([{ header: tarHeader({ name: 'APKINDEX', size: body.length }), body }]));
}

const key = generateApkKeyPair('counts.rsa', { bits: 2048 });

/** An index of `text` signed with {@link key}, as abuild-sign makes it: a signature tar without end blocks, then the content. */
async function signedIndexOf(text: string): Promise<Uint8Array> {
  const content = await indexOf(text);
  const signature = new Uint8Array(sign('sha256', content, key.privateKeyPem));
  const tar = await tarBytes([{ header: tarHeader({ name: `.SIGN.RSA256.${key.name}`, size: signature.length }), body: signature }]);
  return Buffer.concat([gzipSync(tar.subarray(0, tar.length - 1024)), content]);
}

const read = (bytes: Uint8Array) => readApkIndex(bytes, { keyring: new ApkKeyring(), where: 'index', allowUntrusted: true });

describe('the counts an APKINDEX may hold', () => {
  it(`refuses one more package than ${ENTRIES_MAX} with TOO_LARGE naming the line`, async () => {
    await assert.rejects(read(await indexOf(stanzas(ENTRIES_MAX + 1))), (err) => {
      assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
      assert.match(err.message, /more than 500000 packages/);
      assert.equal(err.where, `index: APKINDEX:${ENTRIES_MAX * 5 + 1}`);
      return true;
    });
  });

  it(`refuses one more name than ${NAMES_MAX}, however they are spaced`, async () => {
    // Provided names apart by Unicode spaces, which the parser splits on too.
    const names = `p:${'a '.repeat(NAMES_MAX / 2)}\np:${'b\u00a0'.repeat(NAMES_MAX / 2)}c\n`;
    await assert.rejects(read(await indexOf(stanzas(1, names))), (err) => {
      assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
      assert.match(err.message, /more than 5000000 dependency and provided names/);
      return true;
    });
  });

  it(`refuses one more field line than ${FIELDS_MAX}, of letters it does not know too`, async () => {
    // One stanza, its other lines `x:`: each kept in `extra` once parsed, none a package or a name.
    const lines = 'x:\n'.repeat(FIELDS_MAX - 4 + 1);
    await assert.rejects(read(await indexOf(stanzas(1, lines))), (err) => {
      assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
      assert.match(err.message, /more than 10000000 field lines/);
      assert.equal(err.where, `index: APKINDEX:${FIELDS_MAX + 1}`);
      return true;
    });
  });

  it(`refuses content past ${TEXT_MAX} bytes, however few packages it lists`, async () => {
    // One package whose description takes the text past the cap: within every count.
    const text = stanzas(1, `T:${'x'.repeat(TEXT_MAX)}\n`);
    await assert.rejects(read(await indexOf(text)), (err) => {
      assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
      assert.match(err.message, /^the index inflates to more than 268435456 bytes/);
      return true;
    });
  });

  it('refuses a count gone over before the rest of the index is inflated', async () => {
    // Counted only once the whole content was inflated, the member after would be refused first:
    // it is not gzip.
    const bytes = Buffer.concat([await indexOf(stanzas(ENTRIES_MAX + 1)), Buffer.from('not gzip')]);
    await assert.rejects(read(bytes), (err) => {
      assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
      assert.match(err.message, /more than 500000 packages/);
      assert.equal(err.where, `index: APKINDEX:${ENTRIES_MAX * 5 + 1}`);
      return true;
    });
  });

  it("holds a build's indexes of one architecture to the caps together, naming them", async () => {
    await withRepositories({ one: ['x86_64'], two: ['x86_64'] }, stanzas(ENTRIES_MAX / 2 + 1), async (open) => {
      // Each under the cap on packages, the two over it.
      const { candidates } = await (await open(['./one'])).readIndex('x86_64');
      assert.ok(Array.isArray(candidates));
      assert.equal(candidates.length, ENTRIES_MAX / 2 + 1);
      await assert.rejects((await open(['./one', './two'])).readIndex('x86_64'), (err) => {
        assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
        assert.match(
          err.message,
          /^the indexes \.\/one\/x86_64\/APKINDEX\.tar\.gz, \.\/two\/x86_64\/APKINDEX\.tar\.gz list more than 500000 packages together \(250001 before this one\)/,
        );
        assert.equal(err.where, `./two/x86_64/APKINDEX.tar.gz: APKINDEX:${(ENTRIES_MAX / 2 - 1) * 5 + 1}`);
        return true;
      });
    });
  });

  it("holds a build's indexes of every architecture to the caps together, a read of one again replacing its last", async () => {
    // A build keeps every architecture's index at once (--compat apko without a lock, a lock checked).
    await withRepositories({ one: ['x86_64', 'aarch64'] }, stanzas(ENTRIES_MAX / 2 + 1), async (open) => {
      const source = await open(['./one']);
      source.keepIndexes();
      await source.readIndex('x86_64');
      await source.readIndex('x86_64');
      await assert.rejects(source.readIndex('aarch64'), (err) => {
        assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
        assert.match(
          err.message,
          /^the indexes \.\/one\/x86_64\/APKINDEX\.tar\.gz, \.\/one\/aarch64\/APKINDEX\.tar\.gz list more than 500000 packages together \(250001 before this one\)/,
        );
        assert.match(err.hint ?? '', /build fewer architectures at once/);
        return true;
      });
    });
  });

  it(`holds the text of a build's indexes to ${TEXT_MAX} bytes together, each within it`, async () => {
    // One package each whose description takes the two past the cap: parsed packages keep their text.
    const text = stanzas(1, `T:${'x'.repeat(TEXT_MAX / 2)}\n`);
    await withRepositories({ one: ['x86_64'], two: ['x86_64'] }, text, async (open) => {
      const { candidates } = await (await open(['./two'])).readIndex('x86_64');
      assert.ok(Array.isArray(candidates));
      assert.equal(candidates.length, 1);
      await assert.rejects((await open(['./one', './two'])).readIndex('x86_64'), (err) => {
        assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
        assert.match(
          err.message,
          /^the indexes \.\/one\/x86_64\/APKINDEX\.tar\.gz, \.\/two\/x86_64\/APKINDEX\.tar\.gz hold more than 268435456 bytes of text together/,
        );
        return true;
      });
    });
  });

  it('reads a repository listed twice once, as apk-tools does, its packages those of each tag', async () => {
    await withRepositories({ one: ['x86_64'] }, stanzas(ENTRIES_MAX / 2 + 1), async (open) => {
      const same = await (await open(['./one', './one'])).readIndex('x86_64');
      assert.ok(Array.isArray(same.candidates));
      assert.equal(same.candidates.length, ENTRIES_MAX / 2 + 1);
      assert.deepEqual(
        same.files.map((f) => f.url),
        ['./one/x86_64/APKINDEX.tar.gz'],
      );
      const tagged = await (await open(['./one', '@edge ./one'])).readIndex('x86_64');
      assert.ok(Array.isArray(tagged.candidates));
      assert.equal(tagged.candidates.length, ENTRIES_MAX + 2);
      const p0 = tagged.candidates.filter((c) => c.name === 'p0');
      assert.deepEqual(
        p0.map((c) => [c.repoTag, c.repoOrder]),
        [
          ['', 0],
          ['edge', 0],
        ],
      );
    });
  });

  it('reads 200,000 packages of a signed index through a source, none passed as arguments', async () => {
    await withRepositories({ repo: ['x86_64'] }, stanzas(200_000), async (open) => {
      const { candidates } = await (await open(['./repo'])).readIndex('x86_64');
      assert.ok(Array.isArray(candidates));
      assert.equal(candidates.length, 200_000);
    });
  });
});

/**
 * Runs `body` on repositories in a temporary folder, each with a folder per architecture named in
 * `layout` holding the same index of `text` signed with {@link key}, and `open` opening a source of
 * the repositories given (`./name`, `@tag ./name`) with the key trusted.
 */
async function withRepositories(
  layout: Record<string, string[]>,
  text: string,
  body: (open: (repositories: string[]) => Promise<ApkSource>) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'provenant-apk-counts-'));
  try {
    await mkdir(join(dir, 'keys'));
    await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
    const bytes = await signedIndexOf(text);
    for (const [repo, archs] of Object.entries(layout)) {
      for (const arch of archs) {
        await mkdir(join(dir, repo, arch), { recursive: true });
        await writeFile(join(dir, repo, arch, 'APKINDEX.tar.gz'), bytes);
      }
    }
    await body((repositories) =>
      openApkSource({
        repositories,
        keyring: [join(dir, 'keys', key.name)],
        packages: ['p0'],
        configPath: 'image.yaml',
        baseDir: dir,
        cache: undefined,
        logger: silentLogger,
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
