// The command table is generated from the command modules; a stale one fails here. And running
// one command loads its own module alone, the registry client only when a registry is named.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI_DOC, cliDocText, tableText } from '../../scripts/gen-commands.ts';

const root = join(import.meta.dirname, '..', '..');
const example = `oci:${join(root, 'examples', 'hello-oci')}:latest`;

/** The src/ modules a run of the CLI loads, by a resolve hook that lists them on exit. */
function loadedModules(args: string[]): string[] {
  const hook = [
    "import { registerHooks } from 'node:module';",
    'const seen = new Set();',
    'registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.add(r.url); return r; } });',
    "process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify([...seen]) + '\\n'));",
  ].join('\n');
  const r = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, join(root, 'src', 'cli', 'main.ts'), ...args],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  const urls = JSON.parse(line!.slice('LOADED '.length)) as string[];
  const src = new URL('../../src/', import.meta.url).href;
  return urls.filter((u) => u.startsWith(src)).map((u) => u.slice(src.length));
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

  it('running digest on a layout loads the digest command alone, and neither registry nor archive code', () => {
    const loaded = loadedModules(['digest', example]);
    assert.deepEqual(
      loaded.filter((m) => m.startsWith('cli/commands/')),
      ['cli/commands/table.ts', 'cli/commands/digest.ts'],
    );
    assert.deepEqual(
      loaded.filter((m) => /^(registry|auth|archive)\//.test(m)),
      [],
    );
  });

  it('help lists every command without loading any', () => {
    const loaded = loadedModules(['help']);
    assert.deepEqual(
      loaded.filter((m) => m.startsWith('cli/commands/')),
      ['cli/commands/table.ts'],
    );
    // The did-you-mean of mistakes lives in yaml.ts, with the YAML parser: loaded for mistakes only.
    assert.ok(!loaded.includes('yaml.ts'), loaded.join(', '));
  });
});
