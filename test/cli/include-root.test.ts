// `--include-root`: a configuration's includes stay under its folder unless the command line names a wider one.
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { writeFixtureRepo } from '../action/fixture-repo.ts';
import { useTempDir } from '../helpers/temp.ts';
import { provenant } from './provenant.ts';

const temp = useTempDir('cli-include-root');
const EPOCH = { SOURCE_DATE_EPOCH: '1700000000' };

describe('provenant build --include-root', () => {
  let dir: string;
  before(async () => {
    dir = await temp();
    await writeFixtureRepo(dir);
    const [key] = await readdir(join(dir, 'keys'));
    // A configuration one folder down that builds on a shared one above it.
    await writeFile(join(dir, 'base.yaml'), 'entrypoint:\n  command: /usr/bin/hello\n');
    await mkdir(join(dir, 'app'));
    await writeFile(
      join(dir, 'app', 'app.yaml'),
      `include: ../base.yaml\ncontents:\n  repositories: [../repo]\n  keyring: [../keys/${key}]\n  packages: [hello]\narchs: [x86_64]\n`,
    );
  });

  it("refuses an include outside the configuration's folder, naming the flag that allows it", async () => {
    const r = await provenant(['build', 'app/app.yaml', '-o', 'oci:refused:latest'], { cwd: dir, env: EPOCH });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /base\.yaml is outside .*app, the folder includes are read from/);
    assert.match(r.stderr, /--include-root DIR/);
  });

  it('builds with the include once --include-root names a folder above it, as lock does', async () => {
    const r = await provenant(['build', 'app/app.yaml', '-o', 'oci:built:latest', '--include-root', '.', '--format', 'json'], {
      cwd: dir,
      env: EPOCH,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(JSON.parse(r.stdout).digest, /^sha256:[0-9a-f]{64}$/);
    const lock = await provenant(['lock', 'app/app.yaml', '-o', 'app.lock.json', '--include-root', dir], { cwd: dir });
    assert.equal(lock.status, 0, lock.stderr);
  });
});
