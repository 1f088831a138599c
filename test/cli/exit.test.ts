// docs/cli.md's exit-code table is written by hand (above the generated part); it must list every
// code src/cli/exit.ts can return, or scripts branch on a code the manual does not explain.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exitCodeFor } from '../../src/cli/exit.ts';
import type { ErrorCode } from '../../src/errors.ts';

const root = join(import.meta.dirname, '..', '..');

describe('exit codes', () => {
  it('docs/cli.md lists every exit code the CLI returns', async () => {
    const errors = await readFile(join(root, 'src', 'errors.ts'), 'utf8');
    const union = errors.slice(errors.indexOf('export type ErrorCode'), errors.indexOf(';', errors.indexOf('export type ErrorCode')));
    const codes = [...union.matchAll(/\| '([A-Z_]+)'/g)].map((m) => m[1] as ErrorCode);
    assert.ok(codes.includes('INCOMPATIBLE'), 'the error codes were read from src/errors.ts');
    const returned = new Set([0, ...codes.map(exitCodeFor)]);
    const doc = await readFile(join(root, 'docs', 'cli.md'), 'utf8');
    const table = doc.slice(doc.indexOf('| exit code | meaning |'));
    const documented = new Map([...table.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => [Number(m[1]), m[2]!] as const));
    for (const code of returned) assert.ok(documented.has(code), `docs/cli.md has no row for exit code ${code}`);
    assert.match(documented.get(7) ?? '', /target \(registry or runtime\) would refuse the image/);
  });
});
