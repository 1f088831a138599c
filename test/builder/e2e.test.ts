import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { toolMissing } from '../helpers/images.ts';

const run = promisify(execFile);
const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const example = new URL('../../examples/busybox/', import.meta.url).pathname;
const provenant = (cwd: string, ...args: string[]) =>
  run(process.execPath, [main, ...args], { cwd, env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } });

const missing =
  toolMissing('bwrap') ||
  toolMissing('umoci') ||
  (existsSync('/bin/busybox') ? false : '/bin/busybox is missing (Debian busybox-static; scripts/setup.sh installs it)') ||
  (process.arch === 'x64' ? false : 'the example packages an x86_64 busybox');

describe('end to end: package a binary, index it, build an image, run it', { skip: missing }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-e2e-'));
    await cp(example, dir, { recursive: true });
    // What prepare.sh made in this checkout (ignored by git) is made again here, from nothing.
    for (const made of ['keys', 'repo', 'image.oci']) await rm(join(dir, made), { recursive: true, force: true });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the built image with bwrap, as its configured user, and prints the line', async () => {
    await provenant(dir, 'apk', 'keygen', '--name', 'demo.rsa', '-o', 'keys');
    await provenant(dir, 'apk', 'build', 'busybox.yaml', '--key', 'keys/demo.rsa', '-o', 'repo/x86_64/busybox-1.36.1-r0.apk');
    const { stdout: indexed } = await provenant(
      dir,
      'apk',
      'index',
      'repo/x86_64/busybox-1.36.1-r0.apk',
      '--key',
      'keys/demo.rsa',
      '-o',
      'repo/x86_64/APKINDEX.tar.gz',
    );
    assert.match(indexed, /1 packages, signed with demo\.rsa\.pub/);
    const { stdout: built } = await provenant(
      dir,
      'build',
      'image.yaml',
      '-o',
      'oci:out:latest',
      '--cache-dir',
      'cache',
      '--format',
      'json',
    );
    const result = JSON.parse(built) as { digest: string; images: { platform: string; packages: string[] }[] };
    assert.deepEqual(
      result.images.map((i) => [i.platform, i.packages]),
      [['linux/amd64', ['busybox-1.36.1-r0']]],
    );
    // A second build from the cache, and one from the lock, give the same digest.
    await provenant(dir, 'lock', 'image.yaml', '-o', 'image.lock.json', '--cache-dir', 'cache');
    const again = JSON.parse(
      (await provenant(dir, 'build', 'image.yaml', '-o', 'oci:out2:latest', '--lock', 'image.lock.json', '--format', 'json')).stdout,
    );
    assert.equal(again.digest, result.digest);

    await provenant(dir, 'copy', '-q', '--platform', 'linux/amd64', 'oci:out:latest', 'oci:out:amd64');
    await run('umoci', ['raw', 'unpack', '--rootless', '--image', 'out:amd64', 'rootfs'], { cwd: dir });
    const config = JSON.parse((await run('umoci', ['stat', '--image', 'out:amd64', '--json'], { cwd: dir })).stdout);
    assert.ok(config);
    const { stdout } = await run('bwrap', [
      '--bind',
      join(dir, 'rootfs'),
      '/',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--unshare-user',
      '--uid',
      '1000',
      '--gid',
      '1000',
      '/bin/sh',
      '-c',
      'echo hello from a provenant image; id -un',
    ]);
    assert.equal(stdout, 'hello from a provenant image\napp\n');
    // apk's database inside the image lists the package with its files.
    const installed = await readFile(join(dir, 'rootfs', 'usr', 'lib', 'apk', 'db', 'installed'), 'utf8');
    assert.match(installed, /^P:busybox$/m);
    assert.match(installed, /^R:busybox$/m);
  });
});
