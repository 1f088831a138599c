/**
 * A policy report as text, for `verify --policy` and `policy test`: per image, per policy, per
 * authority and per attestation, what passed and what failed. `--format json` prints the
 * {@link PolicyReport} itself.
 *
 * A message can quote what a signature or an attestation says about itself, so each is kept on
 * its line (`one`): a failed rule must not print a passing line of its own.
 */
import { printableLine as one } from '../bytes.ts';
import type { PolicyReport } from './evaluate.ts';

const MARK = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' } as const;

/** The report as lines of text (no trailing newline). */
export function formatPolicyReport(report: PolicyReport): string {
  const out: string[] = [`${report.image} (${report.digest}): ${MARK[report.verdict]}`];
  // The tag resolved to its digest, as policy-controller matches globs.
  if (report.name !== report.image) {
    const resolved = report.image.includes('@') ? '' : ' (the tag resolved to its digest, as policy-controller matches)';
    out.push(`  globs matched against ${one(report.name)}${resolved}`);
  }
  for (const p of report.policies) {
    const state = p.passed ? 'passed' : p.mode === 'warn' ? 'failed (mode: warn, not enforced)' : 'failed';
    out.push(`  policy ${p.policy} (${p.mode}, glob ${JSON.stringify(p.glob)}): ${state}`);
    for (const a of p.authorities) {
      out.push(`    ${a.passed ? 'ok  ' : 'FAIL'} authority ${a.authority} (${a.kind}): ${one(a.message)}`);
      for (const x of a.attestations ?? []) {
        out.push(`      ${x.passed ? 'ok  ' : 'FAIL'} attestation ${x.attestation} (${one(x.predicateType)}): ${one(x.message)}`);
      }
    }
  }
  if (report.policies.length === 0) for (const l of [...report.failures, ...report.warnings]) out.push(`  ${one(l)}`);
  return out.join('\n');
}
