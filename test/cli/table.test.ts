// The command table is generated from the command modules; a stale one fails here. And running
// one command loads its own module alone, the registry client only when a registry is named.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI_DOC, cliDocText, tableText } from '../../scripts/gen-commands.ts';
import { cliLoading, RESOLVED_MODULES } from '../helpers/cli.ts';

const root = join(import.meta.dirname, '..', '..');
const example = `oci:${join(root, 'examples', 'hello-oci')}:latest`;

/** The src/ modules a run of the CLI loads, by a resolve hook that lists them on exit. */
async function loadedModules(args: string[]): Promise<string[]> {
  const { loaded } = await cliLoading(args, RESOLVED_MODULES);
  const src = new URL('../../src/', import.meta.url).href;
  return loaded.filter((u) => u.startsWith(src)).map((u) => u.slice(src.length));
}

describe('the command table', () => {
  it('is what scripts/gen-commands.ts makes of the command modules', async () => {
    const have = await readFile(join(root, 'src', 'cli', 'commands', 'table.ts'), 'utf8');
    assert.equal(have, await tableText(), 'src/cli/commands/table.ts is stale: run node scripts/gen-commands.ts');
  });

  it('docs/cli.md holds what provenant help prints for every command and subcommand', async () => {
    const have = await readFile(CLI_DOC, 'utf8');
    assert.equal(have, await cliDocText(have), 'docs/cli.md is stale: run node scripts/gen-commands.ts');
    // And the generated part is help's own text: one command's, byte for byte.
    const help = spawnSync(process.execPath, [join(root, 'src', 'cli', 'main.ts'), 'help', 'apk', 'keygen'], { encoding: 'utf8' });
    assert.ok(have.includes(`#### provenant apk keygen\n\n\`\`\`text\n${help.stdout}\`\`\``));
  });

  it('running digest on a layout loads the digest command alone, and neither registry nor archive code', async () => {
    const loaded = await loadedModules(['digest', example]);
    assert.deepEqual(
      loaded.filter((m) => m.startsWith('cli/commands/')),
      ['cli/commands/table.ts', 'cli/commands/digest.ts'],
    );
    assert.deepEqual(
      loaded.filter((m) => /^(registry|auth|archive)\//.test(m)),
      [],
    );
  });

  it('help lists every command without loading any', async () => {
    const loaded = await loadedModules(['help']);
    assert.deepEqual(
      loaded.filter((m) => m.startsWith('cli/commands/')),
      ['cli/commands/table.ts'],
    );
    // The did-you-mean of mistakes lives in yaml.ts, with the YAML parser: loaded for mistakes only.
    assert.ok(!loaded.includes('yaml.ts'), loaded.join(', '));
  });
});
