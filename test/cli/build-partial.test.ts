// A build whose layout output fails part way (a full disk) says what the layout holds of it and
// what it does not, never a single file's "nothing was written".
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliOk, MAIN, makeApkProject, runCli } from '../helpers/cli.ts';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { type MockSigstore, startMockSigstore } from '../sign/mock-sigstore.ts';

/** The file size limit the second build runs under, in KiB (bash's `ulimit -f` counts KiB). */
const LIMIT_KIB = 64;

describe('provenant build into a layout that fills up part way', () => {
  const tempDir = useTempDir('build-partial');
  let dir: string;
  before(async () => {
    dir = await tempDir();
    await makeApkProject(dir);
    await cliOk(['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:out:v1'], {
      cwd: dir,
      env: { SOURCE_DATE_EPOCH: '1700000000' },
    });
    // index.json made a few hundred bytes short of the limit: the next build's blobs (each far
    // under it) go in, and the first index.json that names more than this one does not. A file
    // size limit (RLIMIT_FSIZE, met as EFBIG) is the full disk a test can make without mounting one.
    const path = join(dir, 'out', 'index.json');
    const index = JSON.parse(await readFile(path, 'utf8')) as { annotations?: Record<string, string> };
    const size = Buffer.byteLength(JSON.stringify(index));
    index.annotations = { ...index.annotations, 'org.example.padding': 'x'.repeat(LIMIT_KIB * 1024 - size - 300) };
    await writeFile(path, JSON.stringify(index));
  });

  it('says what the layout holds and what it does not', { timeout: 60_000 }, async () => {
    const r = await runCli(['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:out:v2'], {
      cwd: dir,
      env: { SOURCE_DATE_EPOCH: '1700000001' },
      command: ['bash', '-c', `ulimit -f ${LIMIT_KIB} && exec "$@"`, 'bash', process.execPath, MAIN],
    });
    assert.equal(r.status, 1, r.stderr);
    // One referrer of the platform image went in before index.json outgrew the limit.
    assert.match(
      r.stderr,
      /^provenant build: cannot write out\/index\.json: the file would be larger than the file system or the file size limit \(ulimit -f\) allows \(in out\); the image sha256:[0-9a-f]{64} is not in oci:out, though 1 of the 2 referrers the build made \(SPDX SBOM, CycloneDX SBOM, SLSA provenance v1\) is\n {2}hint: raise the file size limit \(ulimit -f\), or write to a file system that takes larger files\n$/,
    );
    assert.doesNotMatch(r.stderr, /nothing was written/);
  });
});

describe('provenant build into a layout that fills up, of an image signed there before', () => {
  const tempDir = useTempDir('build-partial-signed-before');
  const env = { COSIGN_PASSWORD: 'layout-key', SOURCE_DATE_EPOCH: '1700000000' };
  let dir: string;
  before(async () => {
    dir = await tempDir();
    await makeApkProject(dir);
    await cliOk(['generate-key-pair'], { cwd: dir, env });
    await cliOk(['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:out:v1'], { cwd: dir, env });
    // A signature of the image, in the layout as a referrer of its index: not the build's.
    await cliOk(['sign', '--key', 'cosign.key', 'oci:out:v1'], { cwd: dir, env });
    // Room for no more entries: the same build again writes nothing new but its tag.
    const path = join(dir, 'out', 'index.json');
    const index = JSON.parse(await readFile(path, 'utf8')) as { annotations?: Record<string, string> };
    const size = Buffer.byteLength(JSON.stringify(index));
    index.annotations = { ...index.annotations, 'org.example.padding': 'x'.repeat(LIMIT_KIB * 1024 - size - 100) };
    await writeFile(path, JSON.stringify(index));
  });

  it('counts the referrers the build made, not the signature there before', { timeout: 60_000 }, async () => {
    const r = await runCli(['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:out:v2'], {
      cwd: dir,
      env,
      command: ['bash', '-c', `ulimit -f ${LIMIT_KIB} && exec "$@"`, 'bash', process.execPath, MAIN],
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /^provenant build: cannot write out\/index\.json: the file would be larger than the file system or the file size limit \(ulimit -f\) allows \(in out\); the image is written as oci:out@sha256:[0-9a-f]{64} with the 2 referrers the build made \(SPDX SBOM, CycloneDX SBOM, SLSA provenance v1\), not tagged v2\n {2}hint: raise the file size limit \(ulimit -f\), or write to a file system that takes larger files\n$/,
    );
  });
});

describe('provenant build --sign into a layout whose index.json reaches its cap', () => {
  const tempDir = useTempDir('build-partial-cap');
  const env = { COSIGN_PASSWORD: 'cap-key', SOURCE_DATE_EPOCH: '1700000000' };
  let dir: string;
  before(async () => {
    dir = await tempDir();
    await makeApkProject(dir);
    await cliOk(['generate-key-pair'], { cwd: dir, env });
    await cliOk(['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:out:v1'], { cwd: dir, env });
    // index.json a little under the 4 MiB a layout's index.json may be (store/layout.ts): the
    // next build's image goes in by digest, with some of its signatures, and then no more.
    const path = join(dir, 'out', 'index.json');
    const index = JSON.parse(await readFile(path, 'utf8')) as { annotations?: Record<string, string> };
    const size = Buffer.byteLength(JSON.stringify(index));
    index.annotations = { ...index.annotations, 'org.example.padding': 'x'.repeat(4 * 1024 * 1024 - size - 1200) };
    await writeFile(path, JSON.stringify(index));
  });

  it('says the image and its first signatures are written, and its hint no longer says nothing was', { timeout: 60_000 }, async () => {
    const r = await runCli(['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:out:v2', '--sign', '--key', 'cosign.key'], {
      cwd: dir,
      env: { ...env, SOURCE_DATE_EPOCH: '1700000001' },
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /^provenant build: index\.json would be \d+ bytes .*; before it, written and kept: .*; the image is written as oci:out@sha256:[0-9a-f]{64}, not tagged v2 \(oci:out\/index\.json\)\n {2}hint: remove tags \(and run gc\)/,
    );
    assert.doesNotMatch(r.stderr, /nothing was written/);
  });
});

describe('provenant build --sign whose signing fails part way', () => {
  const tempDir = useTempDir('build-partial-archive');
  const env = { COSIGN_PASSWORD: 'archive-key', SOURCE_DATE_EPOCH: '1700000000' };
  let dir: string;
  let mock: MockSigstore;
  let proxy: FaultProxy;
  /** Signatures the log took since the test began: it takes two, and refuses every one after. */
  let logged = 0;
  before(async () => {
    dir = await tempDir();
    await makeApkProject(dir);
    await cliOk(['generate-key-pair'], { cwd: dir, env });
    mock = await startMockSigstore({ dir });
    proxy = await startFaultProxy(new URL(mock.url).host, {
      match: (method) => method === 'POST' && ++logged > 2,
      status500Every: 1,
    });
  });
  after(async () => {
    await proxy?.stop();
    await mock?.stop();
  });

  it('into an archive, says nothing was written: the archive and what was signed into it are discarded', { timeout: 120_000 }, async () => {
    logged = 0;
    const r = await runCli(
      ['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci-archive:a.tar', '--sign', '--key', 'cosign.key'].concat([
        '--tlog-upload',
        '--rekor-url',
        proxy.url,
      ]),
      { cwd: dir, env },
    );
    assert.equal(r.status, 6, r.stderr);
    assert.ok(proxy.stats().faults > 0, 'the log refused a signature');
    await assert.rejects(readFile(join(dir, 'a.tar')), { code: 'ENOENT' });
    assert.match(r.stderr, /^provenant build: signing failed: Rekor answered 500\b.*; nothing was written\b/);
    assert.doesNotMatch(r.stderr, /written and kept/);
  });

  it('into a layout, leaves the --write-lock lock as it was, and says so', { timeout: 120_000 }, async () => {
    logged = 0;
    // A lock there before, written on one line to be told from the one the build would write.
    const locking = await runCli(['lock', 'image.yaml', '-o', 'out.lock.json', '--cache-dir', 'cache', '-q'], { cwd: dir, env });
    assert.equal(locking.status, 0, locking.stderr);
    const before = JSON.stringify(JSON.parse(await readFile(join(dir, 'out.lock.json'), 'utf8')));
    await writeFile(join(dir, 'out.lock.json'), before);
    const r = await runCli(
      [
        'build',
        'image.yaml',
        '--cache-dir',
        'cache',
        '-q',
        '-o',
        'oci:out:v1',
        '--write-lock',
        'out.lock.json',
        '--sign',
        '--key',
        'cosign.key',
      ].concat(['--tlog-upload', '--rekor-url', proxy.url]),
      { cwd: dir, env },
    );
    assert.equal(r.status, 6, r.stderr);
    assert.match(
      r.stderr,
      /^provenant build: signing failed: Rekor answered 500\b.*; before it, written and kept: .*; the image is written as oci:out@sha256:[0-9a-f]{64}, not tagged v1; the lock out\.lock\.json is left as it was\b/,
    );
    // The build did not finish: the lock it would have replaced describes what the output still names.
    assert.equal(await readFile(join(dir, 'out.lock.json'), 'utf8'), before);
  });
});

describe('provenant build --sign into a registry that refuses the tag', () => {
  const tempDir = useTempDir('build-partial-tag');
  const env = { COSIGN_PASSWORD: 'k', SOURCE_DATE_EPOCH: '1700000000' };
  let dir: string;
  let registry: TestRegistry;
  let proxy: FaultProxy;
  before(async () => {
    dir = await tempDir();
    await makeApkProject(dir);
    await cliOk(['generate-key-pair'], { cwd: dir, env });
    registry = await startRegistry();
    // Every push of the tag v1 is answered 500; blobs, the manifest by digest and signatures go in.
    proxy = await startFaultProxy(registry.host, { match: (m, p) => m === 'PUT' && /\/manifests\/v1$/.test(p), status500Every: 1 });
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  it('says the image and its signatures are there by digest, and that the lock is left as it was', { timeout: 120_000 }, async () => {
    // A lock there before, written on one line to be told from the one the build would write.
    await cliOk(['lock', 'image.yaml', '-o', 'out.lock.json', '--cache-dir', 'cache', '-q'], { cwd: dir, env });
    const before = JSON.stringify(JSON.parse(await readFile(join(dir, 'out.lock.json'), 'utf8')));
    await writeFile(join(dir, 'out.lock.json'), before);
    const r = await runCli(
      ['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', `${proxy.host}/img:v1`, '--write-lock', 'out.lock.json'].concat([
        '--sign',
        '--key',
        'cosign.key',
      ]),
      { cwd: dir, env },
    );
    assert.notEqual(r.status, 0, r.stderr);
    assert.ok(proxy.stats().faults > 0, `the registry refused the tag: ${r.stderr}`);
    assert.match(
      r.stderr,
      /; the image and its signatures are written as [^ ]+\/img@sha256:[0-9a-f]{64}; the lock out\.lock\.json is left as it was\b/,
    );
    assert.equal(await readFile(join(dir, 'out.lock.json'), 'utf8'), before);
  });
});
