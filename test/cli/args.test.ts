// The plain command lines the CLI reads without node:util's parseArgs (cli/args.ts, plainArgs):
// whatever it reads, it reads as parseArgs does; what it does not read, parseArgs reads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { type FlagSpec, parseCommandArgs, plainArgs } from '../../src/cli/args.ts';
import { COMMANDS } from '../../src/cli/commands/table.ts';
import { ProvenantError } from '../../src/errors.ts';

const FLAGS: Record<string, FlagSpec> = {
  quiet: { type: 'boolean', short: 'q', description: '' },
  format: { type: 'string', description: '' },
  output: { type: 'string', short: 'o', description: '' },
  platform: { type: 'string', multiple: true, description: '' },
  'dry-run': { type: 'boolean', description: '' },
};

/** What parseArgs makes of `argv` with FLAGS, strict, or the error it throws. */
function reference(argv: string[]): { values: Record<string, unknown>; positionals: string[] } | Error {
  const options = Object.fromEntries(
    Object.entries(FLAGS).map(([n, f]) => [
      n,
      { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) },
    ]),
  );
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: { ...values }, positionals };
  } catch (err) {
    return err as Error;
  }
}

/** Words of command lines: flags known and unknown, written every way, values, positionals. */
const word = fc.oneof(
  fc.constantFrom('--quiet', '-q', '--format', '--output', '-o', '--platform', '--dry-run', '--', '-', '--nope', '-x', '-qo', '--quiet=1'),
  fc.constantFrom('--format=json', '--format=', '--platform=linux/arm64', '-o=out', '--output=a=b', '--__proto__', '--constructor'),
  fc.constantFrom('json', 'oci:dir:tag', 'linux/amd64', '-1', 'a b', ''),
  fc.string({ maxLength: 6 }),
);

describe('plain command lines (plainArgs)', () => {
  it('reads what it reads as parseArgs does, and leaves the rest to it', () => {
    fc.assert(
      fc.property(fc.array(word, { maxLength: 8 }), (argv) => {
        const plain = plainArgs(argv, FLAGS);
        if (plain === undefined) return;
        const expected = reference(argv);
        assert.ok(!(expected instanceof Error), `parseArgs refuses ${JSON.stringify(argv)}: ${String(expected)}`);
        assert.deepEqual({ values: { ...plain.values }, positionals: plain.positionals }, expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads the command lines the benchmarks and the docs write, without parseArgs', () => {
    assert.deepEqual(plainArgs(['--quiet', 'oci:a:b', 'host/r:t'], FLAGS), {
      values: { quiet: true },
      positionals: ['oci:a:b', 'host/r:t'],
    });
    assert.deepEqual(
      plainArgs(['c.yaml', '-o', 'oci:out:t', '--format', 'json', '--platform=linux/arm64', '--platform', 'linux/amd64'], FLAGS),
      {
        values: { output: 'oci:out:t', format: 'json', platform: ['linux/arm64', 'linux/amd64'] },
        positionals: ['c.yaml'],
      },
    );
    assert.deepEqual(plainArgs(['-q', '--', '--format', '-'], FLAGS), { values: { quiet: true }, positionals: ['--format', '-'] });
    // Left to parseArgs, which says what is wrong: unknown flags, a switch given a value, a value missing.
    for (const argv of [['--nope'], ['--quiet=1'], ['--format'], ['--format', '--quiet'], ['-qo', 'x'], ['--__proto__']]) {
      assert.equal(plainArgs(argv, FLAGS), undefined, JSON.stringify(argv));
    }
  });

  it('takes the last of a flag given twice, as cosign, crane and skopeo do; a repeatable one collects', async () => {
    assert.equal(plainArgs(['--format', 'json', '--format', 'text'], FLAGS)?.values.format, 'text');
    const parsed = await parseCommandArgs(['-o', 'a', '--output=b', 'x'], FLAGS, {}, 'copy');
    assert.equal(parsed.values.output, 'b');
    const repeated = await parseCommandArgs(['--platform', 'linux/amd64', '--platform=linux/arm64', 'x'], FLAGS, {}, 'copy');
    assert.deepEqual(repeated.values.platform, ['linux/amd64', 'linux/arm64']);
  });

  it('still says what is wrong with a command line it leaves to parseArgs', async () => {
    await assert.rejects(parseCommandArgs(['--formt', 'json'], FLAGS, {}, 'copy'), /unknown flag --formt: did you mean --format\?/);
    await assert.rejects(parseCommandArgs(['--format'], FLAGS, {}, 'copy'), /--format needs a value/);
  });
});

describe('command lines read from parseArgs tokens (parseFlags)', () => {
  it('reads what strict parseArgs accepts as it does, and refuses what it refuses', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(word, fc.constantFrom('-qo', '-oq', '-q-')), { maxLength: 8 }), async (argv) => {
        // A switch's "=true"/"=false", which strict parseArgs refuses, is the next test's.
        fc.pre(!argv.some((w) => /^--(quiet|dry-run)=/.test(w)));
        const expected = reference(argv);
        const got = await parseCommandArgs(argv, FLAGS, {}, 'copy').catch((err: unknown) => err as Error);
        if (expected instanceof Error) {
          assert.ok(got instanceof ProvenantError && got.code === 'USAGE', `${JSON.stringify(argv)}: ${String(got)}`);
        } else {
          if (got instanceof Error) assert.fail(`${JSON.stringify(argv)}: ${String(got)}`);
          assert.deepEqual({ values: { ...got.values }, positionals: got.positionals }, expected);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("takes the last of a switch's words, whichever way each is written", async () => {
    const quiet = async (...argv: string[]) => (await parseCommandArgs([...argv, 'x'], FLAGS, {}, 'copy')).values.quiet;
    assert.equal(await quiet('--quiet=false', '-q'), true);
    assert.equal(await quiet('-q', '--quiet=false'), false);
    assert.equal(await quiet('--quiet=false', '--quiet'), true);
    assert.equal(await quiet('--quiet', '--quiet=false'), false);
    assert.equal(await quiet('--quiet=false', '-qo', 'out'), true);
    assert.equal(await quiet('-qo', 'out', '--quiet=0'), false);
    assert.equal(await quiet('--quiet=false', '--quiet=t'), true);
    // After "--" a word is an argument, not a switch.
    assert.equal(await quiet('-q', '--', '--quiet=false'), true);
    // The command line wins over the environment, whatever the spelling.
    const fromEnv = await parseCommandArgs(['--quiet=false', 'x'], FLAGS, { PROVENANT_QUIET: 'true' }, 'copy');
    assert.equal(fromEnv.values.quiet, false);
  });

  it("takes the last word of every command's switch that has a short form", async () => {
    let seen = 0;
    for (const [command, entry] of Object.entries(COMMANDS)) {
      const { flags } = (await entry.load()).spec;
      for (const [name, spec] of Object.entries(flags)) {
        if (spec.type !== 'boolean' || spec.short === undefined) continue;
        seen++;
        const read = async (...argv: string[]) => (await parseCommandArgs(argv, flags, {}, command)).values[name];
        assert.equal(await read(`--${name}=false`, `-${spec.short}`), true, `${command} --${name}=false -${spec.short}`);
        assert.equal(await read(`-${spec.short}`, `--${name}=false`), false, `${command} -${spec.short} --${name}=false`);
      }
    }
    assert.ok(seen > 0, 'no command has a switch with a short form');
  });

  it('refuses a flag that is a property of every object, as one the command does not have', async () => {
    for (const flag of ['--constructor', '--toString', '--__proto__']) {
      await assert.rejects(parseCommandArgs([flag], FLAGS, {}, 'copy'), new RegExp(`^ProvenantError: unknown flag ${flag}`), flag);
    }
  });
});
