// The `fix` command offered for a problem is one text wherever it is offered (check's lines, its
// refusal's hint, the HTML report), with the flags that make it fix that problem (--all for a
// warning, --force beside a refusal no fix satisfies), and nothing but the command in it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { refusedError, renderCheck } from '../../src/cli/compat.ts';
import type { CheckReport } from '../../src/compat/check.ts';
import { fixCommandOf } from '../../src/compat/command.ts';
import type { Digest } from '../../src/oci/digest.ts';
import type { ReportData } from '../../src/report/data.ts';
import { renderReport } from '../../src/report/html.ts';

const digest = `sha256:${'a'.repeat(64)}` as Digest;
const reference = 'oci:src:1';
const warning = { rule: 'unknown-platforms', severity: 'misdisplays' as const, fix: 'drop-unknown-platforms' };
const refusal = { rule: 'too-big', severity: 'refuses' as const, fix: undefined };

function reportData(problems: { rule: string; severity: 'refuses' | 'misdisplays'; fix: string | undefined }[]): ReportData {
  return {
    reference,
    location: reference,
    digest,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    size: 1,
    kind: 'index',
    annotations: {},
    index: undefined,
    platforms: [],
    attachments: [],
    compat: {
      verdict: 'warnings',
      targets: [
        {
          target: 'kubernetes',
          name: 'Kubernetes',
          kind: 'runtime',
          verdict: 'warnings',
          problems: problems.map((p) => ({ ...p, error: undefined, why: 'why', certainty: 'documented', sources: [] })),
        },
      ],
      notes: [],
    },
    toolVersion: '0',
    notes: [],
  };
}

describe('the fix command offered', () => {
  it('runs as printed in a shell, whatever the reference holds (a space, a quote, $(...))', () => {
    for (const ref of ['oci:./out:1', "oci:./my dir/it's:latest", 'oci:./$(exit 3):1', 'docker-archive:a b.tar']) {
      const { command } = fixCommandOf(ref, { target: 'aws-lambda', problems: [] }, 'refuses');
      // The words a shell reads from the printed line, with nothing run.
      const words = spawnSync('bash', ['-c', `set -- ${command}; printf '%s\\0' "$@"`], { encoding: 'utf8' }).stdout.split('\0');
      assert.deepEqual(words.slice(0, -1), ['provenant', 'fix', ref, '--target', 'aws-lambda', '-o', 'DEST'], command);
    }
  });

  it('in the HTML report, for a warning: with --all, alone in its code span', () => {
    const html = renderReport(reportData([warning]));
    assert.ok(html.includes(`<code>provenant fix ${reference} --target kubernetes -o DEST --all</code>`), html);
  });

  it('in the HTML report, beside a refusal no fix satisfies: with --force, and the reason outside the command', () => {
    const html = renderReport(reportData([warning, refusal]));
    assert.ok(html.includes(`<code>provenant fix ${reference} --target kubernetes -o DEST --all --force</code>`), html);
    assert.match(html, /note:<\/span> kubernetes still refuses the result: no fix satisfies too-big/);
  });

  it("in check's lines: the command ends its line, the note on a line of its own; the refusal's hint is the same command", () => {
    const problem = (p: typeof warning | typeof refusal, fix: unknown) => ({
      ...p,
      fix,
      error: undefined,
      why: 'why',
      certainty: 'documented',
      status: undefined,
      sources: [],
      findings: [],
    });
    const report = {
      image: { reference, digest, kind: 'index', mediaType: 'application/vnd.oci.image.index.v1+json' },
      targets: [
        {
          target: 'kubernetes',
          name: 'Kubernetes',
          kind: 'runtime',
          verdict: 'refused',
          problems: [problem(warning, { id: 'drop-unknown-platforms', with: {} }), problem(refusal, undefined)],
        },
        {
          target: 'docker-hub',
          name: 'Docker Hub',
          kind: 'registry',
          verdict: 'refused',
          problems: [problem(refusal, { id: 'x', with: {} })],
        },
      ],
      notes: [],
    } as unknown as CheckReport;
    const text = renderCheck(report);
    const lines = text.split('\n');
    const fix = lines.find((l) => l.includes('provenant fix') && l.includes('kubernetes'));
    assert.ok(fix?.endsWith(`: provenant fix ${reference} --target kubernetes -o DEST --all --force`), text);
    assert.equal(lines[lines.indexOf(fix!) + 1], '      note:   kubernetes still refuses the result: no fix satisfies too-big');
    assert.match(refusedError(report)!.hint!, new RegExp(`^provenant fix ${reference} --target docker-hub -o DEST writes`));
  });
});
