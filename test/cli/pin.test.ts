/**
 * pin through the CLI entry point: bare git repositories stand in for GitHub (PROVENANT_GIT_BASE),
 * the docker:// image lives in the real registry. `pin --write` on a workflow with a tag, a branch,
 * a SHA already pinned, a docker:// image and a local action rewrites exactly the first two and
 * the image, and leaves every other byte; `--check` fails before and passes after.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../src/registry/client.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import { makeImage } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { gitMissing, makeRemotes, type Remotes, type RepoShas } from '../pin/remotes.ts';
import { provenant } from './provenant.ts';

const temp = useTempDir('cli-pin');
const PINNED = '0123456789abcdef0123456789abcdef01234567';

describe('provenant pin', { skip: gitMissing || registryMissing }, () => {
  const registry = useRegistry();
  let remotes: Remotes;
  let checkout: RepoShas;
  let setup: RepoShas;
  let image: string;
  before(async () => {
    remotes = makeRemotes();
    checkout = remotes.repo('acme/checkout', { commits: 3, branches: { main: 2 }, tags: { v4: 1 } });
    setup = remotes.repo('acme/setup', { commits: 2, branches: { main: 1 } });
    const made = await makeImage(new RegistryStore(new RegistryClient(registry.host), 'tools/lint'), {
      tag: '1.0',
      layers: 1,
      layerBytes: 256,
    });
    image = made.root.digest;
  });
  after(() => remotes?.remove());

  const workflowText = (host: string): string => `name: ci   # the formatting people write
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/checkout@v4
      - uses: "acme/setup@main"   # the tool
      - uses: acme/cache@${PINNED} # v3
      - uses: ./.github/actions/local
      - uses: docker://${host}/tools/lint:1.0
`;

  async function repository(): Promise<{ dir: string; file: string; before: string }> {
    const dir = await temp();
    await mkdir(join(dir, '.github', 'workflows'), { recursive: true });
    const file = join(dir, '.github', 'workflows', 'ci.yml');
    const text = workflowText(registry.host);
    await writeFile(file, text);
    return { dir, file, before: text };
  }

  it('--check fails while anything is unpinned, resolving nothing', async () => {
    const { dir } = await repository();
    // No git base: were anything looked up, it would fail.
    const r = await provenant(['pin', '--check'], { cwd: dir, env: { PROVENANT_GIT_BASE: 'file:///nonexistent' } });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /acme\/checkout@v4 {2}\(ref: NOT PINNED\)/);
    assert.match(r.stdout, /acme\/cache@0123456789abcdef0123456789abcdef01234567 {2}\(sha: pinned\)/);
    assert.match(r.stdout, /\.\/\.github\/actions\/local {2}\(local: pinned\)/);
    assert.match(r.stdout, /3 not pinned\./);
    assert.match(r.stderr, /provenant pin: 3 uses: values are not pinned/);
  });

  it('without --write shows what it would pin and writes nothing', async () => {
    const { dir, file, before: text } = await repository();
    const r = await provenant(['pin'], { cwd: dir, env: { PROVENANT_GIT_BASE: remotes.base } });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(`acme/checkout@v4 -> acme/checkout@${checkout.commits[1]}  (tag)`), r.stdout);
    assert.match(r.stdout, /3 would be pinned: run with --write/);
    assert.equal(await readFile(file, 'utf8'), text);
  });

  it('--write rewrites exactly the tag, the branch and the image; a second run and --check change nothing', async () => {
    const { dir, file } = await repository();
    const env = { PROVENANT_GIT_BASE: remotes.base };
    const r = await provenant(['pin', '--write'], { cwd: dir, env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\.github\/workflows\/ci\.yml \(workflow\): written/);
    assert.match(r.stdout, /acme\/setup@main -> .*\n {6}note: main is a branch/);
    // Written by hand: the SHAs come from git, the digest from the pushed image.
    const expected = `name: ci   # the formatting people write
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/checkout@${checkout.commits[1]} # v4
      - uses: "acme/setup@${setup.commits[1]}"   # main # the tool
      - uses: acme/cache@${PINNED} # v3
      - uses: ./.github/actions/local
      - uses: docker://${registry.host}/tools/lint@${image} # 1.0
`;
    assert.equal(await readFile(file, 'utf8'), expected);
    const again = await provenant(['pin', '--write'], { cwd: dir, env });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /0 pinned in 0 file\(s\)/);
    assert.equal(await readFile(file, 'utf8'), expected);
    const check = await provenant(['pin', '--check', '--format', 'json'], { cwd: dir });
    assert.equal(check.status, 0, check.stderr);
    const json = JSON.parse(check.stdout) as { files: { entries: { pinned: boolean }[] }[] };
    assert.ok(json.files[0]!.entries.every((e) => e.pinned));
  });

  it('--check reads a linked workflow, and fails on one it could not read', async () => {
    const base = await temp();
    const dir = join(base, 'repo');
    await mkdir(join(dir, '.github', 'workflows'), { recursive: true });
    await writeFile(join(dir, 'ci.yml'), 'jobs:\n  a:\n    steps:\n      - uses: acme/checkout@v4\n');
    await symlink('../../ci.yml', join(dir, '.github/workflows/ci.yml'));
    const inside = await provenant(['pin', '--check'], { cwd: dir });
    assert.equal(inside.status, 1, inside.stderr);
    assert.match(inside.stdout, /ci\.yml:4:15 {2}acme\/checkout@v4 {2}\(ref: NOT PINNED\)\n1 not pinned\.\n$/);
    await mkdir(join(base, 'other'));
    await writeFile(join(base, 'other/ci.yml'), `jobs:\n  a:\n    steps:\n      - uses: acme/checkout@${PINNED} # v4\n`);
    await writeFile(join(dir, 'ci.yml'), `jobs:\n  a:\n    steps:\n      - uses: acme/checkout@${PINNED} # v4\n`);
    await symlink('../../../other/ci.yml', join(dir, '.github/workflows/out.yml'));
    const outside = await provenant(['pin', '--check'], { cwd: dir });
    assert.equal(outside.status, 1, outside.stderr);
    assert.match(
      outside.stdout,
      /skipped \.github\/workflows\/out\.yml: a link to .*, outside .*: not read, not pinned\n1 skipped without being read, so not checked\.\n$/,
    );
    assert.doesNotMatch(outside.stdout, /Everything is pinned/);
    assert.match(outside.stderr, /1 linked file\(s\) or folder\(s\) were not read/);
  });

  it('counts as pinned only what it wrote: a block scalar is left as it was, for a person', async () => {
    const dir = await temp();
    await mkdir(join(dir, '.github', 'workflows'), { recursive: true });
    const file = join(dir, '.github', 'workflows', 'ci.yml');
    await writeFile(file, 'jobs:\n  a:\n    steps:\n      - uses: >-\n          acme/checkout@v4\n      - uses: acme/setup@main\n');
    const env = { PROVENANT_GIT_BASE: remotes.base };
    const shown = await provenant(['pin'], { cwd: dir, env });
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /\n1 would be pinned: run with --write to rewrite the files\. 1 to pin by hand: see the notes\.\n$/);
    const r = await provenant(['pin', '--write'], { cwd: dir, env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /acme\/checkout@v4 -> acme\/checkout@[0-9a-f]{40} {2}\(tag: not rewritten\)/);
    assert.match(r.stdout, /\n1 pinned in 1 file\(s\); 1 left as they were\. 1 to pin by hand: see the notes\.\n$/);
    assert.match(await readFile(file, 'utf8'), /acme\/checkout@v4\n/);
  });

  it('--format json says an entry was written only when its file was', async () => {
    const dir = await temp();
    await mkdir(join(dir, '.github', 'workflows'), { recursive: true });
    const file = join(dir, '.github', 'workflows', 'ci.yml');
    const text = 'jobs:\n  a:\n    steps:\n      - uses: >-\n          acme/checkout@v4\n      - uses: acme/setup@main\n';
    await writeFile(file, text);
    const env = { PROVENANT_GIT_BASE: remotes.base };
    type Json = { files: { written: boolean; entries: { old: string; rewritten: boolean; written: boolean }[] }[] };
    const fields = (json: Json) => json.files[0]!.entries.map((e) => [e.old, e.rewritten, e.written]);
    const shown = await provenant(['pin', '--format', 'json'], { cwd: dir, env });
    assert.equal(shown.status, 0, shown.stderr);
    const dry = JSON.parse(shown.stdout) as Json;
    assert.equal(dry.files[0]!.written, false);
    // The pinned text holds the branch's pin (rewritten), but nothing reached the file.
    assert.deepEqual(fields(dry), [
      ['acme/checkout@v4', false, false],
      ['acme/setup@main', true, false],
    ]);
    assert.equal(await readFile(file, 'utf8'), text);
    const r = await provenant(['pin', '--write', '--format', 'json'], { cwd: dir, env });
    assert.equal(r.status, 0, r.stderr);
    const wrote = JSON.parse(r.stdout) as Json;
    assert.equal(wrote.files[0]!.written, true);
    // The block scalar is left for a person: not written, though its file was.
    assert.deepEqual(fields(wrote), [
      ['acme/checkout@v4', false, false],
      ['acme/setup@main', true, true],
    ]);
  });

  it('names the file, line and column of a tag that does not exist, and writes nothing', async () => {
    const { dir, file } = await repository();
    const broken = `${workflowText(registry.host)}      - uses: acme/checkout@v9\n`;
    await writeFile(file, broken);
    const r = await provenant(['pin', '--write', '.github/workflows/ci.yml'], { cwd: dir, env: { PROVENANT_GIT_BASE: remotes.base } });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /acme\/checkout has no tag or branch "v9" \(\.github\/workflows\/ci\.yml:12:15\)/);
    assert.equal(await readFile(file, 'utf8'), broken);
  });
});

// What --check needs no git or registry for: finding nothing to check, and values GitHub refuses.
describe('provenant pin --check, before anything is resolved', () => {
  it('fails where it finds no workflow or action file, naming the folder, rather than calling it pinned', async () => {
    const dir = await temp();
    const r = await provenant(['pin', '--check'], { cwd: dir });
    assert.equal(r.status, 3, r.stderr);
    assert.doesNotMatch(r.stdout, /Everything is pinned/);
    assert.ok(r.stdout.startsWith(`No workflow or action files found in ${dir} (.github/workflows/`), r.stdout);
    assert.ok(r.stderr.includes(`provenant pin: no workflow or action files found in ${dir} (`), r.stderr);
    assert.match(r.stderr, /hint: run it at the top of the repository/);
    // Without --check it says so too, and succeeds: there is nothing to pin.
    const shown = await provenant(['pin'], { cwd: dir });
    assert.equal(shown.status, 0, shown.stderr);
    assert.ok(shown.stdout.startsWith(`No workflow or action files found in ${dir} (`), shown.stdout);
    // A folder named that holds YAML but no workflow or action: listed as skipped, and not a pass.
    await mkdir(join(dir, 'conf'));
    await writeFile(join(dir, 'conf', 'settings.yml'), 'key: value\n');
    const named = await provenant(['pin', '--check', 'conf'], { cwd: dir });
    assert.equal(named.status, 3, named.stderr);
    assert.match(
      named.stdout,
      /^skipped conf\/settings\.yml: neither a workflow nor an action\nNo workflow or action files found in conf\.\n$/,
    );
    assert.match(named.stderr, /no workflow or action files found in conf\n/);
  });

  it("refuses a job's uses: that is not a reusable workflow file, a step's that is one, and a path that climbs, at its line", async () => {
    const dir = await temp();
    await mkdir(join(dir, '.github', 'workflows'), { recursive: true });
    const cases = [
      ['    uses: docker://alpine:3.20', /docker:\/\/ image runs as a step.* \(\.github\/workflows\/ci\.yml:3:11\)/],
      ['    uses: acme/checkout@v1', /needs the workflow file's path.* \(\.github\/workflows\/ci\.yml:3:11\)/],
      ['    steps:\n      - uses: acme/checkout/../x@v1', /\. or \.\. segment \(\.github\/workflows\/ci\.yml:4:15\)/],
      // A local target is held to the same rules: a step calls no reusable workflow, and its path
      // does not climb out of the checkout.
      ['    steps:\n      - uses: ./.github/workflows/reuse.yml', /called by a job.* \(\.github\/workflows\/ci\.yml:4:15\)/],
      ['    steps:\n      - uses: ./../outside', /\. or \.\. segment \(\.github\/workflows\/ci\.yml:4:15\)/],
      ['    steps:\n      - uses: ./a/../../x', /\. or \.\. segment \(\.github\/workflows\/ci\.yml:4:15\)/],
    ] as const;
    for (const [job, error] of cases) {
      await writeFile(join(dir, '.github', 'workflows', 'ci.yml'), `jobs:\n  a:\n${job}\n`);
      const r = await provenant(['pin', '--check'], { cwd: dir });
      assert.equal(r.status, 2, `${job}: ${r.stderr}`);
      assert.match(r.stderr, /is not a uses value GitHub accepts/);
      assert.match(r.stderr, error);
    }
  });
});
