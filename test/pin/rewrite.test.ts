// Rewriting uses: lines in workflow text, and scanning untrusted text.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { isProvenantError } from '../../src/errors.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { applyReplacements, type Replacement } from '../../src/pin/rewrite.ts';
import { scanUses, type UsesSite } from '../../src/pin/scan.ts';
import { formatAction, formatDocker } from '../../src/pin/uses.ts';

// A stand-in resolver: any deterministic function of the ref will do for the rewriting.
const shaOf = (ref: string): string => createHash('sha1').update(ref).digest('hex');

function replacementsFor(sites: readonly UsesSite[]): Replacement[] {
  const out: Replacement[] = [];
  for (const site of sites) {
    const t = site.target;
    if (t.kind === 'local' || t.pinned || site.style === 'block') continue;
    if (t.kind === 'docker') out.push({ site, value: formatDocker(t, digestOf(site.value)), label: t.tag ?? 'latest' });
    else out.push({ site, value: formatAction(t, shaOf(t.ref)), label: t.ref });
  }
  return out;
}

function pinText(text: string): { text: string; replacements: Replacement[] } {
  const replacements = replacementsFor(scanUses(text, 'w.yml').sites);
  return { text: applyReplacements(text, replacements).text, replacements };
}

describe('applyReplacements', () => {
  it('keeps quotes, spacing, other comments and line endings, and adds or prefixes the ref comment', () => {
    const text = [
      '\ufeffjobs:',
      '  a:',
      '    steps:',
      '      - uses:   "acme/one@v1"   # first step',
      "      - uses: 'acme/two/sub@main'",
      '      - uses: acme/three@v3 #v3',
      '      - {uses: acme/four@v4, with: {x: 1}}  # flow',
      '      - uses: docker://alpine:3.19\t',
      '',
    ].join('\r\n');
    const out = pinText(text).text;
    const expected = [
      '\ufeffjobs:',
      '  a:',
      '    steps:',
      `      - uses:   "acme/one@${shaOf('v1')}"   # v1 # first step`,
      `      - uses: 'acme/two/sub@${shaOf('main')}' # main`,
      `      - uses: acme/three@${shaOf('v3')} #v3`,
      `      - {uses: acme/four@${shaOf('v4')}, with: {x: 1}}  # flow`,
      `      - uses: docker://alpine@${digestOf('docker://alpine:3.19')} # 3.19\t`,
      '',
    ].join('\r\n');
    assert.equal(out, expected);
  });

  it('rewrites an anchored value once, for every alias of it', () => {
    const text = 'jobs:\n  a:\n    steps:\n      - uses: &co acme/co@v1\n      - uses: *co\n';
    const { text: out, replacements } = pinText(text);
    assert.equal(replacements.length, 1);
    assert.equal(out, `jobs:\n  a:\n    steps:\n      - uses: &co acme/co@${shaOf('v1')} # v1\n      - uses: *co\n`);
  });

  it('refuses a block scalar and a value that would need quoting', () => {
    const text = 'jobs:\n  a:\n    steps:\n      - uses: >-\n          acme/x@v1\n      - uses: acme/y@v1\n';
    const sites = scanUses(text, 'w.yml').sites;
    assert.equal(sites[0]?.style, 'block');
    assert.throws(
      () => applyReplacements(text, [{ site: sites[0]!, value: 'acme/x@abc', label: 'v1' }]),
      (e) => isProvenantError(e, 'USAGE'),
    );
    assert.throws(
      () => applyReplacements(text, [{ site: sites[1]!, value: 'acme/y@a b', label: 'v1' }]),
      (e) => isProvenantError(e, 'USAGE'),
    );
    assert.throws(
      () => applyReplacements(text, [{ site: sites[1]!, value: 'acme/y@ab', label: 'v1\nx' }]),
      (e) => isProvenantError(e, 'USAGE'),
    );
  });

  // The property of issue 13: pinning touches the uses: values (and their line's comment) and
  // nothing else, whatever the quoting, spacing, comments and line endings around them.
  it('changes only the uses lines of random workflows, and a second run changes nothing', () => {
    const word = fc.stringMatching(/^[a-z][a-z0-9-]{0,7}$/);
    const image = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/);
    const ref = fc.oneof(fc.stringMatching(/^v[0-9]{1,2}(\.[0-9]{1,2}){0,2}$/), fc.constantFrom('main', 'release/v2', 'feature_x'));
    const sha = fc.stringMatching(/^[0-9a-f]{40}$/);
    const usesValue = fc.oneof(
      fc
        .tuple(word, word, fc.option(word, { nil: undefined }), ref)
        .map(([o, r, p, f]) => `${o}/${r}${p === undefined ? '' : `/${p}`}@${f}`),
      fc.tuple(word, word, sha).map(([o, r, s]) => `${o}/${r}@${s}`),
      word.map((w) => `./.github/actions/${w}`),
      fc.tuple(image, fc.stringMatching(/^[0-9]{1,2}(\.[0-9]{1,2})?$/)).map(([i, t]) => `docker://${i}:${t}`),
      image.map((i) => `docker://registry.example/acme/${i}`),
    );
    const quoted = fc
      .tuple(usesValue, fc.constantFrom('plain', 'single', 'double'))
      .map(([v, q]) => (q === 'single' ? `'${v}'` : q === 'double' ? `"${v}"` : v));
    const comment = fc.oneof(
      fc.constant(''),
      fc.tuple(fc.stringMatching(/^[ \t]{1,3}$/), fc.stringMatching(/^[a-z0-9 .#-]{0,16}$/)).map(([sp, c]) => `${sp}#${c}`),
    );
    const step = fc.record({
      before: fc.option(word, { nil: undefined }),
      spaces: fc.stringMatching(/^ {1,3}$/),
      uses: quoted,
      comment,
      trailing: fc.constantFrom('', ' ', '\t'),
      withKey: fc.option(word, { nil: undefined }),
      lineComment: fc.option(fc.stringMatching(/^[a-z ]{0,12}$/), { nil: undefined }),
    });
    const workflow = fc.record({
      steps: fc.array(step, { minLength: 1, maxLength: 8 }),
      eol: fc.constantFrom('\n', '\r\n'),
      reusable: fc.option(fc.tuple(word, word, ref), { nil: undefined }),
    });
    fc.assert(
      fc.property(workflow, ({ steps, eol, reusable }) => {
        const lines = ['# a workflow', 'on: push', 'jobs:', '  build:', '    runs-on: ubuntu-latest', '    steps:'];
        const usesLines = new Set<number>();
        for (const s of steps) {
          if (s.lineComment !== undefined) lines.push(`      #${s.lineComment}`);
          if (s.before !== undefined) lines.push(`      - name: ${s.before}`);
          usesLines.add(lines.length);
          lines.push(
            `      ${s.before === undefined ? '- ' : '  '}uses:${s.spaces}${s.uses}${s.comment}${s.comment === '' ? s.trailing : ''}`,
          );
          if (s.withKey !== undefined) lines.push('        with:', `          ${s.withKey}: "value # not a comment"`);
        }
        if (reusable !== undefined) {
          usesLines.add(lines.length + 1);
          lines.push('  reuse:', `    uses: ${reusable[0]}/${reusable[1]}/.github/workflows/ci.yml@${reusable[2]}`);
        }
        lines.push('');
        const text = lines.join(eol);
        const { text: out, replacements } = pinText(text);
        const after = out.split(eol);
        assert.equal(after.length, lines.length);
        lines.forEach((line, i) => {
          if (!usesLines.has(i)) assert.equal(after[i], line, `line ${i + 1} changed`);
        });
        // Each rewritten line keeps everything before the value, and says the ref in its comment.
        for (const r of replacements) {
          const i = r.site.line - 1;
          const prefix = lines[i]!.slice(0, r.site.column - 1);
          assert.ok(after[i]!.startsWith(prefix), `line ${i + 1} lost what came before the value`);
          // The same quoting: the value starts with the same quote (or letter) as before.
          assert.equal(after[i]![r.site.column - 1], lines[i]![r.site.column - 1], `line ${i + 1} lost its quoting`);
          const quote = { single: "'", double: '"', plain: '', block: '' }[r.site.style];
          assert.ok(
            after[i]!.slice(prefix.length).startsWith(`${quote}${r.value}${quote}`),
            `line ${i + 1} does not hold the pinned value`,
          );
          // The comment a line had is kept when it names the ref already, with its own spacing.
          assert.match(after[i]!, new RegExp(`[ \\t]#\\s*${r.label.replace(/[.]/g, '\\.')}`));
        }
        // The same document but for the pinned values.
        const expected = parse(text) as { jobs: { build: { steps: Array<{ uses: string }> }; reuse?: { uses: string } } };
        const byValue = new Map(replacements.map((r) => [r.site.value, r.value]));
        for (const s of expected.jobs.build.steps) s.uses = byValue.get(s.uses) ?? s.uses;
        if (expected.jobs.reuse !== undefined) expected.jobs.reuse.uses = byValue.get(expected.jobs.reuse.uses) ?? expected.jobs.reuse.uses;
        assert.deepEqual(parse(out), expected);
        // Pinned values need nothing more.
        assert.equal(pinText(out).text, out);
        assert.ok(scanUses(out, 'w.yml').sites.every((s) => s.target.kind === 'local' || s.target.pinned));
      }),
      { numRuns: 300 },
    );
  });
});

describe('scanUses on untrusted text', () => {
  // Valid workflows and actions, then damaged by a few random edits: most still parse, so the
  // walk and the uses parser see odd shapes and values, not only syntax errors.
  it('returns sites in range or throws a typed error naming the file', () => {
    const token = fc.oneof(
      fc.constantFrom(
        'a/b@v1',
        './x',
        'docker://alpine:3',
        'a/b@',
        '@',
        '&a ',
        '*a',
        '"',
        "'",
        '|',
        '>-',
        '{',
        '}',
        '[',
        ']',
        ',',
        ' #',
        '\n',
        '\r\n',
        '\t',
        ':',
        '- ',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, which uses refuses
        '${{ x }}',
        'uses: ',
        'steps:',
      ),
      fc.string({ maxLength: 4 }),
    );
    const edit = fc.record({ at: fc.nat(), remove: fc.nat({ max: 6 }), insert: token });
    const base = fc.tuple(
      fc.constantFrom(
        'jobs:\n  a:\n    uses: o/r/.github/workflows/w.yml@v1\n  b:\n    steps:\n',
        'runs:\n  using: composite\n  steps:\n',
        'jobs:\n  c:\n    steps:\n',
      ),
      fc.array(
        fc.constantFrom(
          '      - uses: a/b@v1 # v1\n',
          "      - {uses: 'o/r@main'}\n",
          '      - uses: "./local"\n',
          '      - run: echo\n',
          '      - uses: docker://x:1\n',
        ),
        {
          maxLength: 5,
        },
      ),
    );
    let withSites = 0;
    fc.assert(
      fc.property(base, fc.array(edit, { maxLength: 3 }), ([head, steps], edits) => {
        let text = head + steps.join('');
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          text = text.slice(0, at) + e.insert + text.slice(at + e.remove);
        }
        try {
          const { sites } = scanUses(text, 'f.yml');
          if (sites.length > 0) withSites++;
          for (const s of sites) {
            assert.ok(s.start >= 0 && s.end <= text.length && s.start < s.end);
            assert.ok(s.line >= 1 && s.column >= 1);
          }
        } catch (err) {
          assert.ok(isProvenantError(err, 'INVALID_CONFIG', 'INVALID_REFERENCE'), String(err));
          assert.match(String((err as { where?: string }).where), /^f\.yml/);
        }
      }),
      { numRuns: 2000 },
    );
    // The generator must reach the walk, or this test would prove nothing. About a quarter of its
    // texts have sites (488 in one CI run), so the bound is well below that, not at it.
    assert.ok(withSites > 250, `only ${withSites} of 2000 texts had uses sites`);
  });
});
