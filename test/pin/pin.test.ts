// pinWorkflows end to end: tags, branches and images pinned, the rest left byte for byte.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import { imageDigestResolver, type PinOptions, type PinResult, pinWorkflows, writePinned } from '../../src/pin/pin.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import type { RegistryOpenOptions } from '../../src/store/open.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import { makeImage } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { gitMissing, makeRemotes, type Remotes, type RepoShas } from './remotes.ts';

const tempDir = useTempDir('pin');

async function put(dir: string, path: string, text: string | Uint8Array): Promise<string> {
  const file = join(dir, path);
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, text);
  return file;
}

function textOf(result: PinResult, file: string): string {
  const f = result.files.find((x) => x.file === file);
  assert.ok(f, `${file} is in the result`);
  return f.text;
}

/** Registry access as the CLI gives it, built here from the store and client classes. */
const plainRegistry: RegistryOpenOptions = {
  async open(location) {
    return new RegistryStore(new RegistryClient(location.reference.registry), location.reference.repository);
  },
};

describe('pinWorkflows', { skip: gitMissing }, () => {
  let remotes: Remotes;
  let checkout: RepoShas;
  let setup: RepoShas;
  let linter: RepoShas;
  let workflows: RepoShas;
  // A commit SHA that is already pinned. Its repository (acme/cache) does not exist: were it
  // looked up, the run would fail.
  const cacheSha = '0123456789abcdef0123456789abcdef01234567';

  before(() => {
    remotes = makeRemotes();
    checkout = remotes.repo('acme/checkout', { commits: 3, branches: { main: 2 }, tags: { v4: 1 } });
    setup = remotes.repo('acme/setup-tool', { commits: 2, branches: { main: 1 }, annotated: { 'v2.1.0': 0 } });
    linter = remotes.repo('acme/linter', { commits: 2, branches: { main: 1 } });
    workflows = remotes.repo('acme/workflows', { commits: 1, branches: { main: 0 }, tags: { v1: 0 } });
  });
  after(() => remotes?.remove());

  describe('with a registry', { skip: registryMissing }, () => {
    const registry = useRegistry();
    let imageDigest: string;
    before(async () => {
      const store = new RegistryStore(new RegistryClient(registry.host), 'tools/lint');
      const made = await makeImage(store, { tag: '1.0', layers: 1, layerBytes: 512 });
      imageDigest = made.root.digest;
    });

    // Issue 13's definition of done: tags, a branch, a pinned SHA, a docker:// image and a local
    // action; exactly the tags, the branch and the image are rewritten, and a second run changes nothing.
    it('rewrites tags, branches and images, and leaves every other byte', async () => {
      const dir = await tempDir();
      const host = registry.host;
      const workflow = `# CI, with the spacing and quoting people write
name: ci
on:
  push:
    branches: [main]

jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/checkout@v4
      - name: Set up the tool
        uses:   "acme/setup-tool@v2.1.0"    # installs the tool
        with:
          version: '1.2'   # not a uses
      - uses: 'acme/linter/sub/dir@main'
      - uses: acme/cache@${cacheSha} # v3
      - uses: acme/cache@${cacheSha}
      - uses: ./.github/actions/local
      - uses: docker://${host}/tools/lint:1.0
      - run: 'echo "uses: acme/checkout@v4"'  # a run line that mentions uses
      - {uses: acme/checkout@v4, with: {fetch-depth: 0}}
  reuse:
    uses: acme/workflows/.github/workflows/build.yml@v1
`;
      // Written by hand: the SHAs come from git (remotes.ts), the digest from the pushed image.
      const expected = `# CI, with the spacing and quoting people write
name: ci
on:
  push:
    branches: [main]

jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/checkout@${checkout.commits[1]} # v4
      - name: Set up the tool
        uses:   "acme/setup-tool@${setup.commits[0]}"    # v2.1.0 # installs the tool
        with:
          version: '1.2'   # not a uses
      - uses: 'acme/linter/sub/dir@${linter.commits[1]}' # main
      - uses: acme/cache@${cacheSha} # v3
      - uses: acme/cache@${cacheSha}
      - uses: ./.github/actions/local
      - uses: docker://${host}/tools/lint@${imageDigest} # 1.0
      - run: 'echo "uses: acme/checkout@v4"'  # a run line that mentions uses
      - {uses: acme/checkout@${checkout.commits[1]}, with: {fetch-depth: 0}}
  reuse:
    uses: acme/workflows/.github/workflows/build.yml@${workflows.commits[0]} # v1
`;
      const action =
        'name: local\nruns:\n  using: composite\n  steps:\n    - uses: acme/checkout@main\n    - run: echo hi\n      shell: bash\n';
      const actionExpected = `name: local\nruns:\n  using: composite\n  steps:\n    - uses: acme/checkout@${checkout.commits[2]} # main\n    - run: echo hi\n      shell: bash\n`;
      await put(dir, '.github/workflows/ci.yml', workflow);
      await put(dir, '.github/actions/local/action.yml', action);
      // Not a workflow folder GitHub reads, and not named as a path: left alone.
      await put(dir, '.github/workflows/sub/other.yml', 'jobs:\n  x:\n    steps:\n      - uses: acme/checkout@v4\n');

      const debug: string[] = [];
      const options: PinOptions = {
        dir,
        gitBase: remotes.base,
        resolveImage: imageDigestResolver(plainRegistry),
        logger: { debug: (m) => debug.push(m), info() {}, warn() {} },
      };
      const result = await pinWorkflows(options);
      assert.deepEqual(
        result.files.map((f) => [f.file, f.kind, f.changed]),
        [
          ['.github/workflows/ci.yml', 'workflow', true],
          ['.github/actions/local/action.yml', 'action', true],
        ],
      );
      assert.equal(textOf(result, '.github/workflows/ci.yml'), expected);
      assert.equal(textOf(result, '.github/actions/local/action.yml'), actionExpected);
      // One ls-remote per repository, however many uses name it.
      assert.equal(debug.filter((m) => m.startsWith('git ls-remote')).length, 4);

      const ci = result.files[0]!.entries;
      assert.deepEqual(
        ci.map((e) => [e.line, e.column, e.kind, e.pinned, e.rewritten, e.comment]),
        [
          [11, 15, 'tag', false, true, 'added'],
          [13, 17, 'tag', false, true, 'prefixed'],
          [16, 15, 'branch', false, true, 'added'],
          [17, 15, 'sha', true, false, 'none'],
          [18, 15, 'sha', true, false, 'none'],
          [19, 15, 'local', true, false, 'none'],
          [20, 15, 'docker', false, true, 'added'],
          [22, 16, 'tag', false, true, 'none'],
          [24, 11, 'tag', false, true, 'added'],
        ],
      );
      // `written`, the field's name before `rewritten`, is kept (deprecated) with the same value.
      assert.deepEqual(
        ci.map((e) => e.written),
        ci.map((e) => e.rewritten),
      );
      assert.equal(ci[0]!.old, 'acme/checkout@v4');
      assert.equal(ci[0]!.new, `acme/checkout@${checkout.commits[1]}`);
      assert.equal(ci[8]!.context, 'job');
      assert.match(ci[2]!.notes.join(), /main is a branch/);
      assert.deepEqual(ci[3]!.notes, []);
      assert.match(ci[4]!.notes.join(), /no # comment/);
      assert.match(ci[7]!.notes.join(), /no room for a # comment/);

      assert.deepEqual(await writePinned(result), ['.github/workflows/ci.yml', '.github/actions/local/action.yml']);
      assert.equal(await readFile(join(dir, '.github/workflows/ci.yml'), 'utf8'), expected);
      assert.equal(await readFile(join(dir, '.github/actions/local/action.yml'), 'utf8'), actionExpected);

      const again = await pinWorkflows(options);
      assert.ok(again.files.every((f) => !f.changed && f.entries.every((e) => e.pinned)));
      assert.deepEqual(await writePinned(again), []);
    });

    it('names an image tag that does not exist once, at the uses: it is about', async () => {
      const dir = await tempDir();
      const ref = `${registry.host}/tools/lint:nope`;
      await put(dir, 'w.yml', `jobs:\n  a:\n    steps:\n      - uses: docker://${ref}\n`);
      await assert.rejects(
        pinWorkflows({ dir, paths: ['w.yml'], gitBase: remotes.base, resolveImage: imageDigestResolver(plainRegistry) }),
        (e) => isProvenantError(e, 'NOT_FOUND') && e.where === 'w.yml:4:15' && e.message === `docker://${ref}: ${ref} does not exist`,
      );
    });
  });

  it('finds unpinned uses without the network when resolve is off', async () => {
    const dir = await tempDir();
    const text = 'jobs:\n  a:\n    steps:\n      - uses: acme/x@v1\n      - uses: docker://alpine:3\n      - uses: ./y\n';
    await put(dir, '.github/workflows/a.yaml', text);
    await put(dir, 'action.yml', 'runs:\n  using: node20\n  main: index.js\n');
    const result = await pinWorkflows({ dir, resolve: false, gitBase: 'file:///nonexistent' });
    assert.deepEqual(
      result.files.map((f) => [f.file, f.changed, f.entries.map((e) => [e.kind, e.pinned, e.new])]),
      [
        [
          '.github/workflows/a.yaml',
          false,
          [
            ['ref', false, undefined],
            ['docker', false, undefined],
            ['local', true, undefined],
          ],
        ],
        ['action.yml', false, []],
      ],
    );
  });

  it('names the file, line and column of a ref that does not exist, and of a short SHA', async () => {
    const dir = await tempDir();
    await put(dir, 'w.yml', `jobs:\n  a:\n    steps:\n      - uses: acme/checkout@v4\n      - uses:  acme/checkout@v9\n`);
    await assert.rejects(
      pinWorkflows({ dir, paths: ['w.yml'], gitBase: remotes.base }),
      (e) => isProvenantError(e, 'NOT_FOUND') && e.where === 'w.yml:5:16' && /acme\/checkout has no tag or branch "v9"/.test(e.message),
    );
    await put(dir, 'w.yml', `jobs:\n  a:\n    steps:\n      - uses: acme/checkout@${checkout.commits[2]!.slice(0, 7)}\n`);
    await assert.rejects(
      pinWorkflows({ dir, paths: ['w.yml'], gitBase: remotes.base }),
      (e) => isProvenantError(e, 'NOT_FOUND') && e.where === 'w.yml:4:15' && /full 40-character commit SHA/.test(e.hint ?? ''),
    );
    await put(dir, 'w.yml', 'jobs:\n  a:\n    steps:\n      - uses: acme/missing@v1\n');
    await assert.rejects(
      pinWorkflows({ dir, paths: ['w.yml'], gitBase: remotes.base }),
      (e) => isProvenantError(e, 'NOT_FOUND') && e.where === 'w.yml:4:15' && e.message.includes(`${remotes.base}/acme/missing`),
    );
    await put(dir, 'w.yml', 'jobs:\n  a:\n    steps:\n      - uses: docker://alpine:3\n');
    await assert.rejects(
      pinWorkflows({ dir, paths: ['w.yml'], gitBase: remotes.base }),
      (e) => isProvenantError(e, 'USAGE') && e.where === 'w.yml:4:15',
    );
    await put(dir, 'w.yml', 'jobs:\n  a:\n    steps:\n      - uses: actions/checkout\n');
    await assert.rejects(
      pinWorkflows({ dir, paths: ['w.yml'] }),
      (e) => isProvenantError(e, 'INVALID_REFERENCE') && e.where === 'w.yml:4:15',
    );
    await put(dir, 'w.yml', 'jobs:\n  a:\n    steps: [\n');
    await assert.rejects(
      pinWorkflows({ dir, paths: ['w.yml'] }),
      (e) => isProvenantError(e, 'INVALID_CONFIG') && /^w\.yml:\d+:\d+$/.test(e.where ?? ''),
    );
    await put(dir, 'dependabot.yml', 'version: 2\n');
    await assert.rejects(
      pinWorkflows({ dir, paths: ['dependabot.yml'] }),
      (e) => isProvenantError(e, 'INVALID_CONFIG') && e.where === 'dependabot.yml',
    );
    await assert.rejects(pinWorkflows({ dir, paths: ['nope.yml'] }), (e) => isProvenantError(e, 'NOT_FOUND') && e.where === 'nope.yml');
  });

  it('says in its own words that a file holds two YAML documents, and where the second starts', async () => {
    const dir = await tempDir();
    await put(dir, 'w.yml', 'jobs:\n  a:\n    steps:\n      - uses: ./x\n---\njobs: {}\n');
    await assert.rejects(
      pinWorkflows({ dir, paths: ['w.yml'], resolve: false }),
      (e) =>
        isProvenantError(e, 'INVALID_CONFIG') &&
        e.where === 'w.yml:5:1' &&
        /a second YAML document starts here/.test(e.message) &&
        !/parseAllDocuments/.test(e.message),
    );
  });

  it('asks for a version comment on a pinned image only when the value does not name its tag', async () => {
    const dir = await tempDir();
    const digest = `sha256:${'a'.repeat(64)}`;
    await put(
      dir,
      'w.yml',
      `jobs:\n  a:\n    steps:\n      - uses: docker://alpine:3@${digest}\n      - uses: docker://alpine@${digest}\n`,
    );
    const result = await pinWorkflows({ dir, paths: ['w.yml'], resolve: false });
    const [tagged, bare] = result.files[0]!.entries;
    assert.deepEqual(tagged!.notes, []);
    assert.match(bare!.notes.join(), /no # comment says which version this digest is/);
  });

  it('keeps a byte order mark and CRLF line endings, and takes the tag when a branch has its name', async () => {
    const dir = await tempDir();
    remotes.repo('acme/both', { commits: 2, branches: { v1: 1 }, tags: { v1: 0 } });
    const both = remotes.git('acme/both', 'rev-parse', 'refs/tags/v1');
    const text = '\ufeffjobs:\r\n  a:\r\n    steps:\r\n      - uses: acme/both@v1\r\n      - run: echo\r\n';
    await put(dir, 'w.yml', text);
    const result = await pinWorkflows({ dir, paths: ['w.yml'], gitBase: remotes.base });
    const expected = `\ufeffjobs:\r\n  a:\r\n    steps:\r\n      - uses: acme/both@${both} # v1\r\n      - run: echo\r\n`;
    assert.equal(result.files[0]!.text, expected);
    assert.match(result.files[0]!.entries[0]!.notes.join(), /a branch v1 exists too/);
    await writePinned(result);
    assert.deepEqual(new Uint8Array(await readFile(join(dir, 'w.yml'))), new TextEncoder().encode(expected));
  });

  it('walks a folder for workflows and actions, skipping other YAML', async () => {
    const dir = await tempDir();
    await put(dir, 'ci/build.yml', 'jobs:\n  a:\n    steps:\n      - uses: acme/linter@main\n');
    await put(dir, 'ci/compose.yml', 'services:\n  db:\n    image: postgres\n');
    await put(dir, 'ci/broken.yaml', 'a: [\n');
    await put(dir, 'ci/deep/action.yaml', 'runs:\n  using: composite\n  steps:\n    - uses: acme/checkout@v4\n');
    await put(dir, 'ci/node_modules/x/action.yml', 'runs:\n  using: composite\n  steps:\n    - uses: acme/nothing@v4\n');
    await put(dir, 'ci/deep/action.yml.txt', 'not yaml');
    await symlink(join(dir, 'ci/build.yml'), join(dir, 'ci/link.yml'));
    const result = await pinWorkflows({ dir, paths: ['ci', 'ci/build.yml'], gitBase: remotes.base });
    assert.deepEqual(
      result.files.map((f) => f.file),
      ['ci/build.yml', 'ci/deep/action.yaml'],
    );
    assert.deepEqual(
      result.skipped.map((s) => s.file),
      ['ci/broken.yaml', 'ci/compose.yml'],
    );
    assert.equal(result.files[0]!.text, `jobs:\n  a:\n    steps:\n      - uses: acme/linter@${linter.commits[1]} # main\n`);
  });

  it('neither reads nor writes a workflow through a link out of the folder (a linked .github)', async () => {
    const base = await tempDir();
    const text = 'jobs:\n  a:\n    steps:\n      - uses: acme/checkout@v4\n';
    const outside = await put(base, 'other/.github/workflows/ci.yml', text);
    const dir = join(base, 'repo');
    await mkdir(dir);
    await symlink('../other/.github', join(dir, '.github'));
    // Found by looking: skipped, with the reason, and nothing written where the link points.
    const result = await pinWorkflows({ dir, gitBase: remotes.base });
    assert.deepEqual(result.files, []);
    assert.deepEqual(
      result.skipped.map((s) => s.file),
      ['.github/workflows/ci.yml'],
    );
    assert.match(result.skipped[0]!.reason, /a link to .*other\/\.github\/workflows\/ci\.yml, outside .*repo: not read, not pinned/);
    assert.deepEqual(await writePinned(result), []);
    assert.equal(await readFile(outside, 'utf8'), text);
    assert.deepEqual((await pinWorkflows({ dir, paths: ['.github'], gitBase: remotes.base })).files, []);
    // Named: refused.
    await assert.rejects(
      pinWorkflows({ dir, paths: ['.github/workflows/ci.yml'], gitBase: remotes.base }),
      (e: unknown) => isProvenantError(e, 'UNSAFE_PATH') && e.where === '.github/workflows/ci.yml' && e.message.includes(outside),
    );
    // Named where it is, outside the folder: the caller's choice, pinned.
    const named = await pinWorkflows({ dir, paths: ['../other/.github/workflows/ci.yml'], gitBase: remotes.base });
    assert.deepEqual(await writePinned(named), [outside]);
    assert.equal(await readFile(outside, 'utf8'), text.replace(/@v4\n$/, `@${checkout.commits[1]} # v4\n`));
  });

  it('reads workflows and actions through links inside the folder, and lists a linked folder out of it as unchecked', async () => {
    const base = await tempDir();
    const dir = join(base, 'repo');
    const text = 'jobs:\n  a:\n    steps:\n      - uses: acme/checkout@v4\n';
    const action = 'runs:\n  using: composite\n  steps:\n    - uses: acme/checkout@v4\n';
    const shared = await put(dir, 'shared/ci.yml', text);
    await put(dir, 'shared/x/action.yml', action);
    await put(base, 'other/y/action.yml', action);
    await mkdir(join(dir, '.github', 'workflows'), { recursive: true });
    await mkdir(join(dir, '.github', 'actions'), { recursive: true });
    await symlink('../../shared/ci.yml', join(dir, '.github/workflows/ci.yml'));
    await symlink('../../shared/x', join(dir, '.github/actions/x'));
    await symlink('../../../other/y', join(dir, '.github/actions/y'));
    // A loop: walked once.
    await symlink('..', join(dir, 'shared/x/up'));
    const result = await pinWorkflows({ dir, gitBase: remotes.base });
    assert.deepEqual(
      result.files.map((f) => [f.file, f.path, f.entries.length]),
      [
        ['.github/workflows/ci.yml', shared, 1],
        ['.github/actions/x/action.yml', join(dir, 'shared/x/action.yml'), 1],
      ],
    );
    assert.deepEqual(
      result.skipped.map((s) => [s.file, s.unchecked]),
      [['.github/actions/y', true]],
    );
    assert.match(result.skipped[0]!.reason, /a link to the folder .*other\/y, outside .*repo: not read/);
    await writePinned(result);
    assert.equal(await readFile(shared, 'utf8'), text.replace(/@v4\n$/, `@${checkout.commits[1]} # v4\n`));
  });

  it('leaves a block scalar for a person, and writes the rest', async () => {
    const dir = await tempDir();
    const text = 'jobs:\n  a:\n    steps:\n      - uses: >-\n          acme/checkout@v4\n      - uses: acme/checkout@v4\n';
    await put(dir, 'w.yml', text);
    const result = await pinWorkflows({ dir, paths: ['w.yml'], gitBase: remotes.base });
    const [block, plain] = result.files[0]!.entries;
    assert.equal(block!.rewritten, false);
    assert.equal(block!.written, false);
    assert.equal(block!.new, `acme/checkout@${checkout.commits[1]}`);
    assert.match(block!.notes.join(), /block scalar/);
    assert.equal(plain!.rewritten, true);
    assert.equal(result.files[0]!.text, text.replace(/@v4\n$/, `@${checkout.commits[1]} # v4\n`));
  });

  it('leaves an anchor an alias also uses outside uses:, and rewrites one shared by uses: values only', async () => {
    const dir = await tempDir();
    const text = `env:
  CHECKOUT: &co acme/checkout@v4
jobs:
  a:
    steps:
      - uses: *co
      - uses: &setup acme/setup-tool@main
  b:
    steps:
      - uses: *setup
  c:
    steps: &steps
      - uses: acme/linter@main
  d:
    steps: *steps
`;
    await put(dir, 'w.yml', text);
    const result = await pinWorkflows({ dir, paths: ['w.yml'], gitBase: remotes.base });
    const [co, setupTool, lint] = result.files[0]!.entries;
    assert.equal(co!.rewritten, false);
    assert.equal(co!.new, `acme/checkout@${checkout.commits[1]}`);
    assert.match(co!.notes.join(), /YAML anchor.*also uses outside uses:.*not rewritten/);
    assert.equal(setupTool!.rewritten, true);
    assert.equal(lint!.rewritten, true);
    assert.equal(
      result.files[0]!.text,
      text
        .replace('acme/setup-tool@main', `acme/setup-tool@${setup.commits[1]} # main`)
        .replace('acme/linter@main', `acme/linter@${linter.commits[1]} # main`),
    );
  });

  it('says a pinned file it cannot write was left as it was, without naming the temporary file', async (t) => {
    const dir = await tempDir();
    const file = await put(dir, 'w.yml', 'jobs:\n  a:\n    steps:\n      - uses: acme/checkout@v4\n');
    const result = await pinWorkflows({ dir, paths: ['w.yml'], gitBase: remotes.base });
    // Root may write anywhere: an immutable file refuses it the rename. Others: a folder without write permission.
    const root = process.getuid?.() === 0;
    if (root && spawnSync('chattr', ['+i', file]).status !== 0) {
      t.skip('chattr +i is not available here');
      return;
    }
    if (!root) await chmod(dir, 0o555);
    try {
      await assert.rejects(
        writePinned(result),
        (e) =>
          isProvenantError(e, 'IO') &&
          e.where === 'w.yml' &&
          /^cannot write the pinned file: the system does not allow it \((EPERM|EACCES)\); it was left as it was/.test(e.message) &&
          !e.message.includes('.provenant-') &&
          /temporary file beside the file/.test(e.hint ?? ''),
      );
    } finally {
      if (root) spawnSync('chattr', ['-i', file]);
      else await chmod(dir, 0o755);
    }
    assert.equal(await readFile(file, 'utf8'), new TextDecoder().decode(result.files[0]!.original));
    assert.deepEqual(await readdir(dir), ['w.yml']);
  });

  it('writes through a temporary file, keeps the mode, and will not overwrite a file changed meanwhile', async () => {
    const dir = await tempDir();
    const file = await put(dir, 'w.yml', 'jobs:\n  a:\n    steps:\n      - uses: acme/checkout@v4\n');
    await chmod(file, 0o640);
    const result = await pinWorkflows({ dir, paths: ['w.yml'], gitBase: remotes.base });
    await writeFile(file, 'jobs: {}\n');
    await assert.rejects(writePinned(result), (e) => isProvenantError(e, 'IO') && e.where === 'w.yml');
    assert.equal(await readFile(file, 'utf8'), 'jobs: {}\n');
    await writeFile(file, result.files[0]!.original);
    await writePinned(result);
    assert.equal(await readFile(file, 'utf8'), result.files[0]!.text);
    assert.equal((await stat(file)).mode & 0o777, 0o640);
    // A group-writable file stays so under a umask that would take the bit away from a new file.
    await writeFile(file, result.files[0]!.original);
    await chmod(file, 0o664);
    const old = process.umask(0o022);
    try {
      await writePinned(result);
    } finally {
      process.umask(old);
    }
    assert.equal((await stat(file)).mode & 0o777, 0o664);
  });
});

describe('pinWorkflows: where an error came from', () => {
  it('keeps a place that its message holds only inside a longer word, as the CLI does (namesPlace)', async () => {
    const dir = await tempDir();
    await put(dir, 'w.yml', 'jobs:\n  a:\n    steps:\n      - uses: docker://example.org/tools/lint:1\n');
    // The place, example.org/tools, is in the message only as the start of example.org/tools/lint:1.
    const resolveImage = () =>
      Promise.reject(new ProvenantError('NOT_FOUND', 'example.org/tools/lint:1 does not exist', { where: 'example.org/tools' }));
    await assert.rejects(
      pinWorkflows({ dir, paths: ['w.yml'], gitBase: 'file:///nonexistent', resolveImage }),
      (e) =>
        isProvenantError(e, 'NOT_FOUND') &&
        e.where === 'w.yml:4:15' &&
        e.message === 'docker://example.org/tools/lint:1: example.org/tools/lint:1 does not exist (example.org/tools)',
    );
    // Named as a whole, it is not said twice.
    const named = () =>
      Promise.reject(new ProvenantError('NOT_FOUND', 'example.org/tools/lint:1 does not exist', { where: 'example.org/tools/lint:1' }));
    await assert.rejects(
      pinWorkflows({ dir, paths: ['w.yml'], gitBase: 'file:///nonexistent', resolveImage: named }),
      (e) => isProvenantError(e, 'NOT_FOUND') && e.message === 'docker://example.org/tools/lint:1: example.org/tools/lint:1 does not exist',
    );
  });
});
