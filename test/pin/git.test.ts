// git ls-remote output, URL redaction, and resolving refs against real repositories.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../src/errors.ts';
import { lsRemote, parseLsRemote, redactUrls, resolveRef } from '../../src/pin/git.ts';
import { gitMissing, makeRemotes, type Remotes, type RepoShas } from './remotes.ts';

describe('parseLsRemote', () => {
  it('reads back every ref of any listing, and refuses any other line', () => {
    const oid = fc.oneof(fc.stringMatching(/^[0-9a-f]{40}$/), fc.stringMatching(/^[0-9a-f]{64}$/));
    const name = fc.stringMatching(/^refs\/(heads|tags)\/[A-Za-z0-9._/-]{1,20}(\^\{\})?$/);
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(name, oid), { selector: ([n]) => n, maxLength: 20 }), (refs) => {
        const text = refs.map(([n, o]) => `${o}\t${n}\n`).join('');
        assert.deepEqual(parseLsRemote(text, 'r'), new Map(refs.map(([n, o]) => [n, o])));
      }),
    );
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 60 }), (line) => {
        try {
          const refs = parseLsRemote(`${'a'.repeat(40)}\trefs/heads/main\n${line}\n`, 'r');
          // Accepted only when it really is a ref line.
          assert.ok(refs.size === 2 || (refs.size === 1 && line === `${'a'.repeat(40)}\trefs/heads/main`), line);
        } catch (err) {
          assert.ok(isProvenantError(err, 'INVALID_REFERENCE'), String(err));
          assert.match(String((err as { where: string }).where), /line 2/);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('redactUrls', () => {
  it('drops user and password from URLs', () => {
    assert.equal(
      redactUrls("fatal: unable to access 'https://bot:s3cret@git.example/a/b/'"),
      "fatal: unable to access 'https://git.example/a/b/'",
    );
    assert.equal(redactUrls('file:///tmp/a@b'), 'file:///tmp/a@b');
  });
});

describe('lsRemote and resolveRef against real repositories', { skip: gitMissing }, () => {
  let remotes: Remotes;
  let shas: RepoShas;
  before(() => {
    remotes = makeRemotes();
    shas = remotes.repo('acme/tool', {
      commits: 4,
      branches: { main: 3, 'release/v1': 1, v2: 0 },
      tags: { v1: 0 },
      annotated: { v2: 2, 'v1.1': 1 },
    });
  });
  after(() => remotes.remove());

  it('lists tags (with peeled entries) and branches, and resolves them as git does', async () => {
    const refs = await lsRemote(`${remotes.base}/acme/tool`);
    assert.equal(refs.get('refs/heads/main'), shas.commits[3]);
    assert.equal(refs.get('refs/tags/v2'), shas.objects['refs/tags/v2']);
    assert.notEqual(shas.objects['refs/tags/v2'], shas.commits[2], 'v2 is a tag object');
    assert.equal(refs.get('refs/tags/v2^{}'), shas.commits[2]);

    assert.deepEqual(resolveRef(refs, 'v1'), { sha: shas.commits[0], kind: 'tag', name: 'refs/tags/v1', shadowedBranch: false });
    // An annotated tag pins the commit, not the tag object.
    assert.equal(resolveRef(refs, 'v1.1')?.sha, shas.commits[1]);
    // Tag and branch both named v2: the tag wins, and the branch is reported.
    assert.deepEqual(resolveRef(refs, 'v2'), { sha: shas.commits[2], kind: 'tag', name: 'refs/tags/v2', shadowedBranch: true });
    assert.deepEqual(resolveRef(refs, 'release/v1'), {
      sha: shas.commits[1],
      kind: 'branch',
      name: 'refs/heads/release/v1',
      shadowedBranch: false,
    });
    assert.equal(resolveRef(refs, 'refs/heads/v2')?.sha, shas.commits[0]);
    assert.equal(resolveRef(refs, 'refs/tags/v2')?.sha, shas.commits[2]);
    assert.equal(resolveRef(refs, 'v3'), undefined);
    // A short SHA of a tip is not expanded.
    assert.equal(resolveRef(refs, shas.commits[3]!.slice(0, 7)), undefined);
  });

  it('says NOT_FOUND for a missing repository, and IO when git cannot run', async () => {
    await assert.rejects(
      lsRemote(`${remotes.base}/acme/none`),
      (e) => isProvenantError(e, 'NOT_FOUND') && e.where === `${remotes.base}/acme/none`,
    );
    await assert.rejects(
      lsRemote(`${remotes.base}/acme/tool`, { git: '/nonexistent/git' }),
      (e) => isProvenantError(e, 'IO') && /cannot run git/.test(e.message),
    );
  });

  it('stops when its signal fires', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(lsRemote(`${remotes.base}/acme/tool`, { signal: ac.signal }), (e) => isProvenantError(e, 'ABORTED'));
  });
});
