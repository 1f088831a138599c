// Flags said wrong, said once and before any work; -q on every command that writes progress; the
// key names apk keygen writes, as its help says them.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cliOk, makeApkProject, ROOT, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('early-flags');
const hello = `oci:${join(ROOT, 'examples', 'hello-oci')}:latest`;

describe('flags checked before any work', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
    await makeApkProject(dir);
  });
  const build = (args: string[]) => runCli(['build', 'image.yaml', '--cache-dir', 'cache', '-o', 'oci:out.oci', ...args], { cwd: dir });

  for (const [flag, value, message] of [
    ['--sbom', 'maybe', /--sbom/],
    ['--provenance', 'mode=most', /^provenant build: --provenance does not understand "mode=most"$/m],
    ['--profiles', 'nope', /^provenant build: --profiles adds target profiles for --target: give --target too$/m],
  ] as const) {
    it(`build ${flag} ${value}: exit 2 before resolving anything`, async () => {
      const r = await build([flag, value]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /resolving|fetching/);
    });
  }

  it('attest --predicate of a file that does not exist: NOT_FOUND, exit 3', async () => {
    const r = await runCli(['attest', hello, '--predicate', 'nope.json', '--type', 'https://example.org/p'], { cwd: dir });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /^provenant attest: the predicate nope\.json does not exist\n$/);
  });

  it('-q silences index create and reproduce', async () => {
    await cliOk(['build', 'image.yaml', '-q', '--cache-dir', 'cache', '-o', 'oci:img.oci:1'], { cwd: dir });
    const index = await cliOk(['index', 'create', 'oci:ix.oci', 'oci:img.oci:1', '-q'], { cwd: dir });
    assert.equal(index.stderr, '');
    const loud = await cliOk(['index', 'create', 'oci:ix2.oci', 'oci:img.oci:1'], { cwd: dir });
    assert.match(loud.stderr, /copied/);
    const r = await runCli(['reproduce', 'oci:img.oci:1', '--allow-local-packages', '-q'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /fetching package files/);
  });

  it('apk keygen --name writes NAME-HEX.rsa, as its help says; a name ending in .rsa as it is', async () => {
    const help = await cliOk(['help', 'apk', 'keygen']);
    assert.match(help.stdout, /NAME-HEX\.rsa/);
    await cliOk(['apk', 'keygen', '--name', 'k1', '-o', 'k'], { cwd: dir });
    await cliOk(['apk', 'keygen', '--name', 'k2.rsa', '-o', 'k'], { cwd: dir });
    const names = (await readdir(join(dir, 'k'))).sort();
    assert.equal(names.length, 4, names.join(' '));
    assert.match(names[0]!, /^k1-[0-9a-f]{8}\.rsa$/);
    assert.equal(names[1], `${names[0]}.pub`);
    assert.deepEqual(names.slice(2), ['k2.rsa', 'k2.rsa.pub']);
  });
});
