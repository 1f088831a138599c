// public-key -o -: standard output, as for every command that prints data (docs/cli.md), not a file named "-".
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useTempDir } from '../helpers/temp.ts';
import { provenant } from './provenant.ts';

const tempDir = useTempDir('cli-public-key');
const env = { COSIGN_PASSWORD: 'correct horse battery staple' };

describe('provenant public-key -o -', () => {
  it('prints the PEM on standard output and writes no file, even with a file named "-" there', async () => {
    const dir = await tempDir();
    const made = await provenant(['generate-key-pair'], { cwd: dir, env });
    assert.equal(made.status, 0, made.stderr);
    const pub = await readFile(join(dir, 'cosign.pub'), 'utf8');
    let r = await provenant(['public-key', '--key', 'cosign.key', '-o', '-'], { cwd: dir, env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, pub);
    assert.deepEqual((await readdir(dir)).sort(), ['cosign.key', 'cosign.pub']);
    // A file named "-" is not the output, so it is neither replaced nor a reason to refuse.
    await writeFile(join(dir, '-'), 'keep');
    r = await provenant(['public-key', '--key', 'cosign.key', '-o', '-'], { cwd: dir, env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, pub);
    assert.equal(await readFile(join(dir, '-'), 'utf8'), 'keep');
  });

  it('--outfile FILE, cosign’s name for -o, writes the PEM there; both at once is a usage error', async () => {
    const dir = await tempDir();
    const made = await provenant(['generate-key-pair'], { cwd: dir, env });
    assert.equal(made.status, 0, made.stderr);
    const r = await provenant(['public-key', '--key', 'cosign.key', '--outfile', 'copy.pub'], { cwd: dir, env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(await readFile(join(dir, 'copy.pub'), 'utf8'), await readFile(join(dir, 'cosign.pub'), 'utf8'));
    const both = await provenant(['public-key', '--key', 'cosign.key', '--outfile', 'a.pub', '-o', 'b.pub'], { cwd: dir, env });
    assert.equal(both.status, 2, both.stderr);
    assert.match(both.stderr, /give -o or --outfile, not both/);
  });
});
