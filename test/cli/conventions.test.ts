// The conventions of src/cli/command.ts, checked on every command's spec: a command that
// reports takes --format, one that prints data takes -o and no --format text|json, -o is always short for
// --output, --quiet is -q, subcommands take only flags their command has.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMANDS } from '../../src/cli/commands/table.ts';
import { FORMAT_FLAG, QUIET_FLAG } from '../../src/cli/options.ts';

const specs = await Promise.all(Object.entries(COMMANDS).map(async ([name, entry]) => [name, (await entry.load()).spec] as const));

describe('every command follows the CLI conventions', () => {
  for (const [name, spec] of specs) {
    it(name, () => {
      if (spec.prints === 'result') assert.equal(spec.flags.format, FORMAT_FLAG, `${name} reports, so it takes --format text|json`);
      else {
        // A --format may choose the data's form (report: html or json), never a text|json report.
        assert.notEqual(spec.flags.format, FORMAT_FLAG, `${name} prints data, exactly: no --format text|json`);
        assert.equal(spec.flags.output?.short, 'o', `${name} prints data, so -o/--output FILE writes it to a file`);
      }
      for (const [flag, f] of Object.entries(spec.flags)) {
        if (f.short === 'o') assert.equal(flag, 'output', `${name}: -o is --output`);
        if (f.short === 'q' || flag === 'quiet') assert.equal(f, QUIET_FLAG, `${name}: --quiet is QUIET_FLAG (-q)`);
        assert.match(flag, /^[a-z][a-z0-9-]*$/, `${name}: --${flag} is lower-case words with dashes`);
      }
      for (const [sub, s] of Object.entries(spec.subcommands ?? {})) {
        for (const flag of s.flags) assert.ok(flag in spec.flags, `${name} ${sub} lists --${flag}, which ${name} does not have`);
        assert.match(s.usage, new RegExp(`^provenant ${name} ${sub}\\b`));
      }
      assert.match(spec.usage, new RegExp(`^provenant ${name}\\b`));
    });
  }

  // A PROVENANT_* variable is every command's default: a value another command's flag of that
  // name takes is left to it (args.ts), any other is refused. So each flag lists the others'.
  it('a flag with a fixed set of values knows the values its namesakes take', () => {
    const taken = new Map<string, Set<string>>();
    for (const [, spec] of specs) {
      for (const [flag, f] of Object.entries(spec.flags)) {
        for (const v of f.values ?? []) taken.set(flag, (taken.get(flag) ?? new Set()).add(v));
      }
    }
    for (const [name, spec] of specs) {
      for (const [flag, f] of Object.entries(spec.flags)) {
        if (f.values === undefined) continue;
        const others = [...(taken.get(flag) ?? [])].filter((v) => !f.values!.includes(v)).sort();
        assert.deepEqual([...(f.valuesElsewhere ?? [])].sort(), others, `${name} --${flag}`);
      }
    }
  });
});
