/**
 * The `fix` command that `check`, its refusal and the HTML report offer for a problem: one text in
 * all three, the command alone (copied, it runs as it is) and any word about it apart.
 */
import type { Severity } from './profile.ts';

/** What the command is made from: a target's name and its problems (a check's, or the report's copy). */
export interface FixCommandTarget {
  readonly target: string;
  readonly problems: readonly { readonly rule: string; readonly severity: Severity; readonly fix: unknown }[];
}

/** A `fix` command line and, when the fix leaves the target refusing, what to know before running it. */
export interface FixCommand {
  /** The command alone: `provenant fix REF --target T -o DEST`, with `--all`, `--force` as it needs them. */
  readonly command: string;
  /** Undefined unless the command needs `--force`: then which refusals no fix satisfies. */
  readonly note: string | undefined;
}

/**
 * The `fix` command that makes the fix of a problem of `severity` for target `t` of the image at
 * `reference`: `fix` fixes refusals only unless given `--all`, so a warning's needs it; and it
 * writes nothing while the target has a refusal no fix satisfies, unless given `--force` (the
 * result is then still refused, which `note` says).
 */
export function fixCommandOf(reference: string, t: FixCommandTarget, severity: Severity): FixCommand {
  const unfixable = t.problems.filter((x) => x.severity === 'refuses' && (x.fix === undefined || x.fix === null)).map((x) => x.rule);
  const flags = `${severity === 'refuses' ? '' : ' --all'}${unfixable.length === 0 ? '' : ' --force'}`;
  return {
    command: `provenant fix ${shellWord(reference)} --target ${shellWord(t.target)} -o DEST${flags}`,
    note: unfixable.length === 0 ? undefined : `${t.target} still refuses the result: no fix satisfies ${unfixable.join(', ')}`,
  };
}

/**
 * `word` as a POSIX shell reads it back as one word: as it is when it holds nothing a shell reads
 * (`oci:./out:1`, `registry.example/app@sha256:…`), else in single quotes, a quote in it closed,
 * escaped and opened again, so that a reference with a space, a quote or `$(…)` runs as printed.
 */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
