// The library's first example in README.md, run as written (its registry destination swapped for
// layouts): a destination that names a digest gets that image or a DIGEST_MISMATCH, as with the CLI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { LayoutStore } from '../../src/store/layout.ts';
import { ROOT } from '../helpers/cli.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const exec = promisify(execFile);
const tempDir = useTempDir('readme');
const DESTINATION = "'registry.example/acme/app:v1'";

/** The first TypeScript example of README.md's "The library", copying into `destination` instead of a registry. */
async function copyExample(destination: string): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const library = readme.slice(readme.indexOf('\n## The library\n'));
  const code = /```ts\n([\s\S]*?)```/.exec(library)?.[1];
  assert.ok(code?.includes(DESTINATION) === true, 'the example copies to a registry');
  return code
    .replace(DESTINATION, JSON.stringify(destination))
    .replace("'@provenant/cli'", JSON.stringify(pathToFileURL(join(ROOT, 'src', 'index.ts')).href));
}

describe("README's copyImage example", () => {
  let dir: string;
  let digest: string;

  before(async () => {
    dir = await tempDir();
    const store = await LayoutStore.open(join(dir, 'layout'), { create: true });
    digest = (await makeImage(store, { tag: 'v1', layers: 1, layerBytes: 64 })).root.digest;
    await store.close();
  });

  const run = async (name: string, destination: string) => {
    await writeFile(join(dir, name), await copyExample(destination));
    return exec(process.execPath, [name], { cwd: dir }).then(
      () => ({ ok: true, stderr: '' }),
      (err: { stderr: string }) => ({ ok: false, stderr: err.stderr }),
    );
  };

  it('copies to a tag, and to the digest of the image', async () => {
    assert.deepEqual(await run('tag.mts', 'oci:./by-tag:v1'), { ok: true, stderr: '' });
    assert.deepEqual(await run('digest.mts', `oci:./by-digest@${digest}`), { ok: true, stderr: '' });
    const store = await LayoutStore.open(join(dir, 'by-tag'));
    assert.equal((await store.resolve('v1'))?.digest, digest);
    await store.close();
  });

  it('refuses a destination that names another digest, and writes nothing there', async () => {
    const other = `sha256:${'0'.repeat(64)}`;
    const r = await run('other.mts', `oci:./other@${other}`);
    assert.equal(r.ok, false);
    assert.match(r.stderr, /DIGEST_MISMATCH/);
    assert.match(r.stderr, new RegExp(`the copy would be ${digest}, not the ${other}`));
    const store = await LayoutStore.open(join(dir, 'other'), { create: true });
    assert.equal(await store.resolve(digest).catch(() => undefined), undefined);
    await store.close();
  });
});
