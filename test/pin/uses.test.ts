// Parsing the targets of uses: lines.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../src/errors.ts';
import { formatAction, parseUses } from '../../src/pin/uses.ts';

describe('parseUses', () => {
  it('reads the forms GitHub documents', () => {
    assert.deepEqual(parseUses('actions/checkout@v4'), {
      kind: 'action',
      owner: 'actions',
      repo: 'checkout',
      path: undefined,
      ref: 'v4',
      pinned: false,
    });
    assert.deepEqual(parseUses('octo-org/this-repo/.github/workflows/build.yml@release/v2'), {
      kind: 'action',
      owner: 'octo-org',
      repo: 'this-repo',
      path: '.github/workflows/build.yml',
      ref: 'release/v2',
      pinned: false,
    });
    const sha = '8f4b7f84864484a7bf31766abe9204da3cbe65b3';
    assert.equal((parseUses(`a/b@${sha}`) as { pinned: boolean }).pinned, true);
    // Upper case and short SHAs are refs to look up, not pins.
    assert.equal((parseUses(`a/b@${sha.toUpperCase()}`) as { pinned: boolean }).pinned, false);
    assert.equal((parseUses('a/b@8f4b7f8') as { pinned: boolean }).pinned, false);
    assert.deepEqual(parseUses('./.github/actions/hello'), { kind: 'local', path: '.github/actions/hello' });
    const d = parseUses('docker://registry.example/acme/tool:1.2');
    assert.equal(d.kind, 'docker');
    if (d.kind === 'docker') {
      assert.equal(d.name, 'registry.example/acme/tool');
      assert.equal(d.tag, '1.2');
      assert.equal(d.pinned, false);
      assert.equal(d.reference.registry, 'registry.example');
    }
    const p = parseUses(`docker://alpine@sha256:${'a'.repeat(64)}`);
    assert.ok(p.kind === 'docker' && p.pinned && p.name === 'alpine' && p.tag === undefined);
    const port = parseUses('docker://127.0.0.1:5000/x/y');
    assert.ok(port.kind === 'docker' && port.name === '127.0.0.1:5000/x/y' && port.tag === undefined);
  });

  it('refuses what GitHub refuses, saying why', () => {
    for (const [value, why] of [
      ['', /empty/],
      ['actions/checkout', /no @ref/],
      ['actions/checkout@', /empty/],
      ['checkout@v4', /owner\/repo/],
      ['.github/actions/x@v1', /owner\/repo/],
      ['a/..@v1', /owner\/repo/],
      ['a//b@v1', /owner\/repo/],
      ['a/b//c@v1', /empty segment/],
      ['a/b/../x@v1', /\. or \.\. segment/],
      ['a/b/x/./y@v1', /\. or \.\. segment/],
      ['a/b@v1 # x', /whitespace/],
      ['a/b@v1\n', /whitespace/],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, which uses refuses
      ['${{ matrix.action }}', /expressions/],
      ['docker://Alpine:3', /not an image reference/],
      ['docker://alpine@sha256:abc', /not an image reference/],
    ] as const) {
      assert.throws(
        () => parseUses(value),
        (e) => isProvenantError(e, 'INVALID_REFERENCE') && why.test(e.message),
        value,
      );
    }
  });

  // https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_iduses
  it("reads a job's uses as a reusable workflow file, and a step's as anything but one", () => {
    const file = 'acme/ci/.github/workflows/build.yml@v1';
    assert.equal(parseUses(file, 'job').kind, 'action');
    assert.equal(parseUses('acme/ci/.github/workflows/build.yaml@main', 'job').kind, 'action');
    assert.deepEqual(parseUses('./.github/workflows/build.yml', 'job'), { kind: 'local', path: '.github/workflows/build.yml' });
    for (const [value, why] of [
      ['docker://alpine:3.20', /docker:\/\/ image runs as a step/],
      ['acme/ci@v1', /needs the workflow file's path/],
      ['acme/ci/build.yml@v1', /not a workflow file at the top of \.github\/workflows/],
      ['acme/ci/.github/workflows/sub/build.yml@v1', /not a workflow file at the top/],
      ['acme/ci/.github/workflows/build@v1', /not a workflow file at the top/],
      ['acme/ci/.github/workflows/.yml@v1', /not a workflow file at the top/],
      ['./.github/actions/hello', /workflow file at the top of \.\/\.github\/workflows/],
      ['./.github/workflows/build.yml@v1', /takes no @ref/],
    ] as const) {
      assert.throws(
        () => parseUses(value, 'job'),
        (e) => isProvenantError(e, 'INVALID_REFERENCE') && why.test(e.message) && /\.github\/workflows\/FILE\.yml/.test(e.hint ?? ''),
        value,
      );
    }
    assert.throws(
      () => parseUses('acme/ci/../.github/workflows/build.yml@v1', 'job'),
      (e) => isProvenantError(e, 'INVALID_REFERENCE') && /\. or \.\. segment/.test(e.message),
    );
    for (const value of ['acme/setup@v1', 'acme/tools/lint@v1', './.github/actions/hello', 'docker://alpine:3.20']) {
      assert.doesNotThrow(() => parseUses(value, 'step'), value);
    }
    for (const value of [file, './.github/workflows/build.yml', './.github/workflows/build.yaml']) {
      assert.throws(
        () => parseUses(value, 'step'),
        (e) => isProvenantError(e, 'INVALID_REFERENCE') && /called by a job/.test(e.message),
        value,
      );
    }
    // A local path stays inside the checkout, in any context.
    for (const value of ['./../outside', './a/../../x', './.', './a/./b', './.github/workflows/../../x.yml']) {
      for (const context of ['step', 'job', undefined] as const) {
        assert.throws(
          () => parseUses(value, context),
          (e) => isProvenantError(e, 'INVALID_REFERENCE') && /\. or \.\. segment/.test(e.message),
          `${value} ${context}`,
        );
      }
    }
    // An empty segment is refused in a local path as in owner/repo/path@ref.
    for (const value of ['./a//b', './a/', './/a']) {
      assert.throws(
        () => parseUses(value, 'step'),
        (e) => isProvenantError(e, 'INVALID_REFERENCE') && /empty segment/.test(e.message),
        value,
      );
    }
    // The repository's root action, and a folder whose name starts with dots, are paths inside it.
    assert.deepEqual(parseUses('./', 'step'), { kind: 'local', path: '' });
    assert.deepEqual(parseUses('./..hidden/x', 'step'), { kind: 'local', path: '..hidden/x' });
    // Without a context, either is read.
    assert.equal(parseUses(file).kind, 'action');
    assert.equal(parseUses('docker://alpine:3.20').kind, 'docker');
  });

  it('reads back what formatAction writes, and throws only typed errors on anything else', () => {
    const name = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}$/).filter((n) => n !== '..' && n !== '.');
    const segment = fc.stringMatching(/^[A-Za-z0-9_.-]{1,8}$/).filter((p) => p !== '.' && p !== '..');
    const ref = fc.stringMatching(/^[A-Za-z0-9_./+-]{1,20}$/);
    fc.assert(
      fc.property(
        name,
        name,
        fc.option(fc.array(segment, { minLength: 1, maxLength: 3 }), { nil: undefined }),
        ref,
        (owner, repo, path, r) => {
          const target = parseUses(`${owner}/${repo}${path === undefined ? '' : `/${path.join('/')}`}@${r}`);
          assert.equal(target.kind, 'action');
          if (target.kind !== 'action') return;
          assert.deepEqual([target.owner, target.repo, target.path, target.ref], [owner, repo, path?.join('/'), r]);
          assert.equal(parseUses(formatAction(target, 'f'.repeat(40))).kind, 'action');
        },
      ),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        try {
          parseUses(s);
        } catch (err) {
          assert.ok(isProvenantError(err, 'INVALID_REFERENCE'), String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
