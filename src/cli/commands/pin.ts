/** `provenant pin [PATH...] [--write] [--check]`: every `uses:` of GitHub workflows and actions pinned to a commit SHA or an image digest. */
import { ProvenantError } from '../../errors.ts';
import { imageDigestResolver, type PinEntry, type PinResult, pinWorkflows, writePinned } from '../../pin/pin.ts';
import type { RegistryOpenOptions } from '../../store/open.ts';
import type { FlagSpec, ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, REGISTRY_FLAGS } from '../options.ts';
import { registryAccessFromFlags } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'pin the actions and docker:// images of GitHub workflows to commit SHAs and digests (--check for CI)',
  usage: 'provenant pin [PATH...] [--write | --check] [--format json]',
  prints: 'result',
  flags: {
    write: { type: 'boolean', description: 'rewrite the files (default: show what would change)' },
    check: {
      type: 'boolean',
      description: 'resolve nothing; list what is not pinned and exit 1 when there is any (for CI)',
    },
    format: FORMAT_FLAG,
    // No --username: the images are whatever the workflow files name, on any registry, and a
    // password given here would go to each of them. Credential files are read per registry.
    insecure: REGISTRY_FLAGS.insecure as FlagSpec,
  },
};

/**
 * Pins, shows or checks. The repositories are `git ls-remote`d at `PROVENANT_GIT_BASE` (default
 * https://github.com); images are resolved through their registries with the credential files
 * (docker login, podman login).
 */
export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const format = formatOf(args);
  const write = args.values.write === true;
  const check = args.values.check === true;
  if (write && check) throw new ProvenantError('USAGE', 'give --write or --check, not both');
  // Registry access only when an image needs resolving.
  let access: Promise<RegistryOpenOptions> | undefined;
  const result = await pinWorkflows({
    dir: process.cwd(),
    paths: args.positionals,
    resolve: !check,
    gitBase: io.env.PROVENANT_GIT_BASE,
    env: io.env,
    resolveImage: async (reference, call) => {
      access ??= registryAccessFromFlags(args, io, []);
      return imageDigestResolver(await access)(reference, call);
    },
    signal: io.signal,
    logger: warningLogger(io),
  });
  const written = write ? await writePinned(result) : [];
  // Nothing read, and nothing left unread: run from the wrong folder, or given the wrong paths.
  const nothing = result.files.length === 0 && !result.skipped.some((s) => s.unchecked) ? lookedIn(args.positionals) : undefined;
  io.stdout.write(
    format === 'json' ? `${JSON.stringify(pinJson(result, written), null, 2)}\n` : renderPin(result, { write, check, written, nothing }),
  );
  // A check that found nothing to check must not pass: a CI step run from the wrong folder
  // would pass whatever the workflows hold.
  if (check && nothing !== undefined) {
    throw new ProvenantError('NOT_FOUND', `no workflow or action files found in ${nothing}`, {
      hint:
        args.positionals.length === 0
          ? 'run it at the top of the repository, or name the workflow and action files: provenant pin --check PATH'
          : 'name workflow files (top-level jobs:), action files (top-level runs:) or folders that hold them',
    });
  }
  const unpinned = result.files.flatMap((f) => f.entries).filter((e) => !e.pinned);
  if (check && unpinned.length > 0) {
    throw new ProvenantError('UNPINNED', `${unpinned.length} uses: value${unpinned.length === 1 ? ' is' : 's are'} not pinned`, {
      hint: 'provenant pin --write pins them to the commit SHAs and digests their tags name now',
    });
  }
  // A check that did not read a file cannot say what it holds is pinned.
  const unchecked = result.skipped.filter((s) => s.unchecked);
  if (check && unchecked.length > 0) {
    throw new ProvenantError(
      'UNPINNED',
      `${unchecked.length} linked file(s) or folder(s) were not read, so their uses: values are not checked`,
      {
        where: unchecked[0]!.file,
        hint: 'name the files where the links lead (provenant pin --check PATH) to check them',
      },
    );
  }
}

/** Where pin looked, for a message that says it found nothing there. */
function lookedIn(paths: readonly string[]): string {
  if (paths.length > 0) return paths.join(', ');
  return `${process.cwd()} (.github/workflows/*.yml|*.yaml, action.yml|action.yaml under .github/actions and at the top)`;
}

/**
 * The JSON form (docs/pin.md lists its fields). `written` says what reached the disk: a file's
 * and an entry's are true only when --write wrote that file; `rewritten` says what the pinned
 * text holds, which a run without --write shows and does not write.
 */
function pinJson(result: PinResult, written: readonly string[]): unknown {
  return {
    files: result.files.map((f) => {
      const fileWritten = written.includes(f.file);
      return {
        file: f.file,
        kind: f.kind,
        changed: f.changed,
        written: fileWritten,
        entries: f.entries.map((e) => ({ ...e, written: fileWritten && e.rewritten })),
      };
    }),
    skipped: result.skipped,
  };
}

function entryLine(e: PinEntry, mode: { check: boolean }): string[] {
  const at = `${e.file}:${e.line}:${e.column}`;
  let line: string;
  if (e.pinned) line = `  ${at}  ${e.old}  (${e.kind}: pinned)`;
  else if (e.new === undefined) line = `  ${at}  ${e.old}  (${e.kind}: NOT PINNED${mode.check ? '' : ', not resolved'})`;
  else line = `  ${at}  ${e.old} -> ${e.new}  (${e.kind}${e.rewritten ? '' : ': not rewritten'})`;
  return [line, ...e.notes.map((n) => `      note: ${n}`)];
}

/** The text form: each file's values, what they became, and a last line that counts. */
function renderPin(
  result: PinResult,
  mode: { write: boolean; check: boolean; written: readonly string[]; nothing: string | undefined },
): string {
  const lines: string[] = [];
  for (const f of result.files) {
    lines.push(`${f.file} (${f.kind})${mode.written.includes(f.file) ? ': written' : ''}`);
    for (const e of f.entries) lines.push(...entryLine(e, mode));
  }
  for (const s of result.skipped) lines.push(`skipped ${s.file}: ${s.reason}`);
  const entries = result.files.flatMap((f) => f.entries);
  // What the text holds pinned; a value resolved but left for a person (a block scalar) is not counted.
  const toPin = entries.filter((e) => e.rewritten).length;
  const byHand = entries.filter((e) => e.new !== undefined && !e.rewritten).length;
  const byHandNote = byHand === 0 ? '' : ` ${byHand} to pin by hand: see the notes.`;
  const unpinned = entries.filter((e) => !e.pinned).length;
  const unchecked = result.skipped.filter((s) => s.unchecked).length;
  if (mode.nothing !== undefined) {
    lines.push(`No workflow or action files found in ${mode.nothing}.`);
  } else if (mode.check) {
    const parts = [
      ...(unpinned === 0 ? [] : [`${unpinned} not pinned`]),
      ...(unchecked === 0 ? [] : [`${unchecked} skipped without being read, so not checked`]),
    ];
    lines.push(parts.length === 0 ? 'Everything is pinned.' : `${parts.join('; ')}.`);
  } else if (mode.write) {
    lines.push(`${toPin} pinned in ${mode.written.length} file(s); ${entries.length - toPin} left as they were.${byHandNote}`);
  } else {
    lines.push(`${toPin === 0 ? 'Nothing to pin.' : `${toPin} would be pinned: run with --write to rewrite the files.`}${byHandNote}`);
  }
  return `${lines.join('\n')}\n`;
}
