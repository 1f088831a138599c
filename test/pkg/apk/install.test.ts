// Installing apk packages hands their entries over to the tree: a build does not keep a header
// of every file of the image next to the tree that holds the same files (issue 16, memory).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/io/types.ts';
import { apkPackageInfo, readApkPackage } from '../../../src/pkg/apk/package.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';
import { ApkSource } from '../../../src/pkg/apk/source.ts';
import { buildApk } from '../../../src/pkg/apk/write.ts';
import { readBody } from '../../../src/vfs/body.ts';
import { Tree } from '../../../src/vfs/tree.ts';

const EPOCH = 1_700_000_000;
const options = {
  repositories: [],
  keyring: [],
  packages: ['hello'],
  configPath: 'image.yaml',
  baseDir: '.',
  cache: undefined,
  logger: silentLogger,
};

describe('ApkSource.install', () => {
  it('empties each package of its entries once they are in the tree', async () => {
    const greeting = new TextEncoder().encode('hello\n');
    const bytes = await buildApk({
      name: 'hello',
      version: '1.0-r0',
      arch: 'x86_64',
      builddate: EPOCH,
      files: [
        { path: 'usr/share/hello/greeting', type: 'file', body: greeting },
        { path: 'usr/share/hello/link', type: 'symlink', target: 'greeting' },
      ],
    });
    const pkg = await readApkPackage(bytes, { where: 'hello.apk', allowUntrusted: true });
    const info = apkPackageInfo(pkg, bytes.length, 'hello.apk');
    assert.ok(
      pkg.entries.some((e) => e.path === 'usr/share/hello/greeting'),
      'read with its entries',
    );

    const tree = new Tree();
    const source = new ApkSource(options, new ApkKeyring());
    const [installed] = await source.install(tree, [{ info, pkg }], 'x86_64', { mtime: EPOCH, clamp: undefined });

    assert.deepEqual(pkg.entries, []);
    assert.deepEqual(readBody(tree.get('usr/share/hello/greeting')?.body), greeting);
    assert.equal(tree.get('usr/share/hello/link')?.linkname, 'greeting');
    assert.deepEqual(
      installed?.files?.map((f) => f.path),
      ['/usr/share/hello/greeting'],
      'the file list is made before the entries go',
    );
    const database = new TextDecoder().decode(readBody(tree.get('usr/lib/apk/db/installed')?.body));
    assert.match(database, /\nR:greeting\n/);
    assert.match(database, /\nR:link\n/);
  });
  it("writes apk-tools' ownership lines: M: for a folder and a: for a file that is not root's with the usual mode", async () => {
    const body = new TextEncoder().encode('x\n');
    const bytes = await buildApk({
      name: 'hello',
      version: '1.0-r0',
      arch: 'x86_64',
      builddate: EPOCH,
      files: [
        { path: 'opt/a', type: 'dir', mode: 0o700, uid: 5, gid: 6 },
        { path: 'opt/a/f', type: 'file', body, mode: 0o4755 },
        { path: 'opt/a/g', type: 'file', body, uid: 7 },
        { path: 'opt/b', type: 'dir' },
        { path: 'opt/b/h', type: 'file', body },
      ],
    });
    const pkg = await readApkPackage(bytes, { where: 'hello.apk', allowUntrusted: true });
    const info = apkPackageInfo(pkg, bytes.length, 'hello.apk');
    const tree = new Tree();
    await new ApkSource(options, new ApkKeyring()).install(tree, [{ info, pkg }], 'x86_64', { mtime: EPOCH, clamp: undefined });
    const database = new TextDecoder().decode(readBody(tree.get('usr/lib/apk/db/installed')?.body));
    const block = database.slice(database.indexOf('\nF:opt\n'));
    assert.match(block, /\nF:opt\/a\nM:5:6:700\nR:f\na:0:0:4755\nZ:Q1[^\n]+\nR:g\na:7:0:644\nZ:Q1[^\n]+\nF:opt\/b\nR:h\nZ:Q1[^\n]+\n/);
  });
});
