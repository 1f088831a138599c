// apk-tools 2.x takes an entry's owner from the ustar uid and gid fields (apk_tar_parse, through
// apk_resolve_uid and apk_resolve_gid); handle_extended_header reads path, linkpath, xattrs and its
// checksums of the PAX records, nothing else. A package another tool wrote with an id over
// 2,097,151 (7 octal digits) in a PAX record, the ustar field zero (as Go's archive/tar and
// Provenant's writer leave it), installs as root with apk-tools: it must here too, read whole
// or streamed through the cache. apko (`--compat apko`) reads it with Go's archive/tar, which
// applies the record: its installed database keeps that id.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { silentLogger } from '../../../src/io/types.ts';
import { ApkoFs } from '../../../src/pkg/apk/apko-fs.ts';
import { readApkPackage } from '../../../src/pkg/apk/package.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';
import { ApkSource } from '../../../src/pkg/apk/source.ts';
import { DownloadCache } from '../../../src/pkg/fetch.ts';
import { readBody } from '../../../src/vfs/body.ts';
import { Tree } from '../../../src/vfs/tree.ts';
import { useTempDir } from '../../helpers/temp.ts';

const EPOCH = 1_700_000_000;
const BIG = 3_000_000;

/** A ustar header block, octal fields, as a writer that knows no base-256 makes it. */
function ustarBlock(name: string, typeflag: string, size: number, owner: { uid: number; gid: number }): Uint8Array {
  const b = new Uint8Array(512);
  const put = (off: number, len: number, text: string) => b.set(new TextEncoder().encode(text).subarray(0, len), off);
  const octal = (off: number, len: number, n: number) => put(off, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
  put(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, owner.uid);
  octal(116, 8, owner.gid);
  octal(124, 12, size);
  octal(136, 12, EPOCH);
  put(156, 1, typeflag);
  put(257, 8, 'ustar\x0000');
  b.fill(0x20, 148, 156);
  octal(
    148,
    7,
    b.reduce((sum, x) => sum + x, 0),
  );
  return b;
}

/** A PAX record: its length counts itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let length = rest.length + 1;
  while (`${length}${rest}`.length !== length) length++;
  return `${length}${rest}`;
}

const padded = (bytes: Uint8Array) => Buffer.concat([bytes, new Uint8Array((512 - (bytes.length % 512)) % 512)]);

/** An unsigned package whose files name their owners in PAX records. */
async function ownersApk(): Promise<Uint8Array> {
  const body = (name: string) => Buffer.from(`${name}\n`);
  const sha1 = (name: string) => createHash('sha1').update(body(name)).digest('hex');
  const written = await tarBytes([
    { header: tarHeader({ name: 'usr/', type: 'dir', mode: 0o755, mtime: EPOCH, uname: 'root', gname: 'root' }) },
    { header: tarHeader({ name: 'usr/share/', type: 'dir', mode: 0o755, mtime: EPOCH, uname: 'root', gname: 'root' }) },
    // Too large for the ustar field: the writer leaves it 0 and writes PAX uid and gid records.
    {
      header: tarHeader({
        name: 'usr/share/big',
        size: body('big').length,
        mode: 0o644,
        mtime: EPOCH,
        uid: BIG,
        gid: BIG + 1,
        pax: { 'APK-TOOLS.checksum.SHA1': sha1('big') },
      }),
      body: body('big'),
    },
  ]);
  // A ustar id, and PAX records that say another (Provenant's writer refuses to write both).
  const records = new TextEncoder().encode(
    ['uid', 'gid', 'uname', 'gname'].map((k, i) => paxRecord(k, i < 2 ? String(2000 + i) : 'pax')).join('') +
      paxRecord('APK-TOOLS.checksum.SHA1', sha1('both')),
  );
  const both = [
    ustarBlock('PaxHeaders/both', 'x', records.length, { uid: 0, gid: 0 }),
    padded(records),
    ustarBlock('usr/share/both', '0', body('both').length, { uid: 1000, gid: 1001 }),
    padded(body('both')),
  ];
  // The written archive without its two end blocks, then the hand-made entry, then the end.
  const data = gzipSync(Buffer.concat([written.subarray(0, written.length - 1024), ...both, new Uint8Array(1024)]));
  const info = `pkgname = owners\npkgver = 1.0-r0\narch = x86_64\nsize = 1\ndatahash = ${createHash('sha256').update(data).digest('hex')}\n`;
  const control = gzipSync(await tarBytes([{ header: tarHeader({ name: '.PKGINFO', size: info.length }), body: Buffer.from(info) }]));
  return Buffer.concat([control, data]);
}

describe('the owner of an apk entry', () => {
  const tempDir = useTempDir('apk-owners');

  it('comes from the ustar fields as apk-tools has it, read whole or through the cache; apko keeps the PAX record', async () => {
    const dir = await tempDir();
    const bytes = await ownersApk();
    await writeFile(join(dir, 'owners-1.0-r0.apk'), bytes);
    const { checksum } = await readApkPackage(bytes, { where: 'owners', allowUntrusted: true });
    const locked = { name: 'owners', version: '1.0-r0', architecture: 'x86_64', url: 'owners-1.0-r0.apk', checksum };
    const options = { repositories: [], keyring: [], packages: ['owners'], configPath: 'image.yaml', baseDir: dir, logger: silentLogger };
    const caches = { whole: undefined, streamed: new DownloadCache(join(dir, 'cache')) };
    for (const [how, cache] of Object.entries(caches)) {
      // Twice with the cache: read into it, then from what it kept unpacked.
      for (const round of cache === undefined ? [1] : [1, 2]) {
        const source = new ApkSource({ ...options, cache }, new ApkKeyring());
        const fetched = await source.fetch(locked);
        assert.equal(fetched.cached, round === 2, `${how} ${round}`);
        const tree = new Tree();
        await source.install(tree, [fetched.package], 'x86_64', { mtime: EPOCH, clamp: undefined });
        const owner = (path: string) => `${tree.get(path)?.uid}:${tree.get(path)?.gid}`;
        assert.equal(owner('usr/share/big'), '0:0', `${how} ${round}: installed as root, as apk-tools installs it`);
        assert.equal(owner('usr/share/both'), '1000:1001', `${how} ${round}: the ustar ids, not the PAX records'`);
        const db = tree.get('usr/lib/apk/db/installed');
        assert.equal(db?.type, 'file');
        const installed = new TextDecoder().decode(readBody(db.body));
        assert.match(installed, /\nR:big\nZ:Q1\S+\nR:both\na:1000:1001:644\n/, `${how} ${round}: the database says so too`);

        const apko = new ApkSource({ ...options, cache }, new ApkKeyring());
        const again = await apko.fetch(locked);
        const { records } = apko.installApko(new ApkoFs(new Tree()), [again.package], 'x86_64', {
          world: ['owners'],
          repositories: ['./repo'],
          sourceDateEpoch: EPOCH,
        });
        const files = new Map(records[0]?.files.map((f) => [f.path, `${f.uid}:${f.gid}`]));
        assert.equal(files.get('usr/share/big'), `${BIG}:${BIG + 1}`, `${how} ${round}: apko applies the PAX records`);
        assert.equal(files.get('usr/share/both'), '2000:2001', `${how} ${round}`);
      }
    }
  });
});
