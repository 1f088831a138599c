// `provenant completion bash|zsh|fish`: each script, loaded into its shell, completes the
// commands, a command's flags, a subcommand and a flag's values as the specs give them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliOk, runCli } from '../helpers/cli.ts';
import { toolMissing } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const exec = promisify(execFile);
const tempDir = useTempDir('completion');

async function script(shell: string): Promise<string> {
  const path = join(await tempDir(), `provenant.${shell}`);
  await writeFile(path, (await cliOk(['completion', shell])).stdout);
  return path;
}

describe('provenant completion', () => {
  it('bash: commands, flags, subcommands and values', { skip: toolMissing('bash') }, async () => {
    const path = await script('bash');
    const complete = async (...words: string[]) => {
      const line = words.map((w) => `'${w}'`).join(' ');
      const { stdout } = await exec('bash', [
        '-c',
        `source '${path}'; COMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _provenant; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ]);
      return stdout.trim().split('\n');
    };
    assert.deepEqual(await complete('provenant', 'co'), ['completion', 'copy']);
    assert.deepEqual(await complete('provenant', 'copy', '--pl'), ['--platform']);
    assert.deepEqual(await complete('provenant', 'apk', ''), ['keygen', 'build', 'index']);
    assert.deepEqual(await complete('provenant', 'inspect', '--format', ''), ['text', 'json']);
    assert.deepEqual(await complete('provenant', 'sbom', '--type', ''), ['spdx', 'cyclonedx']);
    // Each command's own values for the same flag.
    assert.deepEqual(await complete('provenant', 'build', '--attestations', ''), [
      'referrers',
      'buildkit',
      'buildkit-artifact',
      'cosign',
      'none',
    ]);
    assert.deepEqual(await complete('provenant', 'attest', '--attestations', ''), ['referrers', 'cosign', 'buildkit', 'buildkit-artifact']);
    assert.deepEqual(await complete('provenant', 'index', '--attestations', ''), ['keep', 'buildkit', 'referrers']);
    assert.deepEqual(await complete('provenant', 'help', 'insp'), ['inspect']);
    // Target ids, read from the profiles when the script is written.
    assert.deepEqual(await complete('provenant', 'check', '--target', 'amazon-'), ['amazon-ecr', 'amazon-ecr-public']);
    assert.deepEqual(await complete('provenant', 'report', '--target', 'no'), ['none']);
    assert.deepEqual(await complete('provenant', 'check', '--target', 'no'), ['']);
    // A flag's own values, as its help shows them: report writes html or json, not text.
    assert.deepEqual(await complete('provenant', 'report', '--format', ''), ['html', 'json']);
    assert.match((await cliOk(['help', 'report'])).stdout, /--format html\|json\n/);
    // A subcommand's own flags, as help lists them; all of the command's before one is given.
    assert.deepEqual(await complete('provenant', 'apk', 'keygen', '--'), ['--output', '--name', '--force', '--format']);
    assert.deepEqual(await complete('provenant', 'apk', 'index', '--'), [
      '--output',
      '--key',
      '--description',
      '--keyring',
      '--allow-untrusted',
      '--format',
    ]);
    assert.ok((await complete('provenant', 'apk', '--')).includes('--depends'));
    assert.deepEqual(await complete('provenant', 'index', '--at'), ['--attestations']);
    assert.deepEqual(await complete('provenant', 'completion', ''), ['bash', 'zsh', 'fish']);
  });

  it('bash: a file name with a space is one completion', { skip: toolMissing('bash') }, async () => {
    const path = await script('bash');
    const cwd = await tempDir();
    await writeFile(join(cwd, 'my file.apk'), '');
    await writeFile(join(cwd, 'my other.apk'), '');
    const { stdout } = await exec(
      'bash',
      ['-c', `source '${path}'; COMP_WORDS=(provenant apk index 'my'); COMP_CWORD=3; _provenant; printf '[%s]\\n' "\${COMPREPLY[@]}"`],
      { cwd },
    );
    assert.deepEqual(stdout.trim().split('\n').sort(), ['[my file.apk]', '[my other.apk]']);
  });

  it('zsh: the script parses and registers its function for provenant', { skip: toolMissing('zsh') }, async () => {
    const path = await script('zsh');
    await exec('zsh', ['-n', path]);
    const { stdout } = await exec('zsh', [
      '-f',
      '-c',
      `autoload -U compinit; compinit -u -D; source '${path}'; print -- \${_comps[provenant]}; whence -w _provenant`,
    ]);
    assert.equal(stdout, '_provenant\n_provenant: function\n');
  });

  it("zsh: completes a subcommand's own flags and the shells, typed into an interactive zsh", { skip: toolMissing('zsh') }, async () => {
    const path = await script('zsh');
    const cwd = await tempDir();
    // zsh completes only in its line editor: a zsh on a pseudo-terminal (zpty) gets the line and a tab.
    const complete = async (line: string): Promise<string[]> => {
      // Typed once the prompt is up: zsh lists nothing while more input waits. Read until the
      // line is drawn again below the listing (without its trailing space), 30 s at most.
      const typed = line.trimEnd();
      const driver = [
        'zmodload zsh/zpty',
        "zpty z 'zsh -f -i'",
        `zpty -w z "autoload -U compinit; compinit -u -D; source '${path}'; PS1='REA''DY> '"`,
        "all=''; n=0",
        'until [[ $all == *READY\\>* ]] || ((n++ > 300)); do zpty -r -t z chunk && all+=$chunk || sleep 0.1; done',
        `zpty -n -w z '${line}'$'\\t'`,
        "all=''; n=0",
        `until [[ $all == *'${typed}'*'${typed}'* ]] || ((n++ > 300)); do zpty -r -t z chunk && all+=$chunk || sleep 0.1; done`,
        'print -r -- "$all"',
        'zpty -d z',
      ].join('\n');
      const { stdout } = await exec('zsh', ['-f', '-c', driver], { cwd, timeout: 60_000 });
      // The listing below the line: one candidate a line (with -- description) or several a line.
      // A cursor move between two words leaves them apart.
      const plain = stdout.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[a-zA-Z]`, 'g'), ' ').replaceAll('\r', '');
      const listing = plain.slice(plain.indexOf(line) + line.length);
      return [...new Set(listing.split(/\s+/).filter((w) => /^(--[a-z-]+|bash|zsh|fish)$/.test(w)))].sort();
    };
    assert.deepEqual(await complete('provenant apk keygen --'), ['--force', '--format', '--name', '--output']);
    assert.deepEqual(await complete('provenant completion '), ['bash', 'fish', 'zsh']);
  });

  it('fish: commands with their summaries, flags, subcommands and values', { skip: toolMissing('fish') }, async () => {
    const path = await script('fish');
    // In an empty folder: file names are completed too, and there are none.
    const cwd = await tempDir();
    const complete = async (line: string) => {
      const { stdout } = await exec('fish', ['--no-config', '-c', `source '${path}'; complete -C '${line}'`], { cwd });
      return stdout.trim().split('\n');
    };
    assert.ok((await complete('provenant co')).includes('copy\tcopy an image with everything it references between any two stores'));
    assert.deepEqual(
      (await complete('provenant copy --pl')).map((l) => l.split('\t')[0]),
      ['--platform'],
    );
    assert.deepEqual(
      (await complete('provenant apk ')).map((l) => l.split('\t')[0]),
      ['build', 'index', 'keygen'],
    );
    assert.deepEqual(
      (await complete('provenant inspect --format ')).map((l) => l.split('\t')[0]),
      ['json', 'text'],
    );
    // The command is the word after provenant: `apk index` is not the command index.
    assert.deepEqual(await complete('provenant apk index '), ['']);
    assert.deepEqual(
      (await complete('provenant apk keygen --')).map((l) => l.split('\t')[0]),
      ['--force', '--format', '--name', '--output'],
    );
    assert.deepEqual(
      (await complete('provenant index --at')).map((l) => l.split('\t')[0]),
      ['--attestations'],
    );
    assert.deepEqual(await complete('provenant completion '), ['bash', 'fish', 'zsh']);
  });

  it('refuses a shell it has no script for (exit 2)', async () => {
    const r = await runCli(['completion', 'tcsh']);
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      /^provenant completion: no completion for the shell "tcsh"\n {2}hint: write provenant completion bash, zsh or fish\n$/,
    );
  });
});
