// The static reading of maintainer scripts for update-alternatives commands: literal commands
// under conditions the reading can settle are read, with their lines; anything that depends on
// what only the running script knows is reported, never guessed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { type AlternativesAction, readScriptAlternatives } from '../../../src/pkg/deb/script-reader.ts';

type Install = Extract<AlternativesAction, { action: 'install' }>;

const segment = fc.stringMatching(/^[a-z][a-z0-9+-]{0,6}(\.[a-z0-9]{1,3})?$/);
const absPath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => `/${parts.join('/')}`);
const altName = fc.stringMatching(/^[a-z][a-z0-9.+-]{0,10}$/);
const command = fc.record({
  link: absPath,
  name: altName,
  path: absPath,
  priority: fc.integer({ min: -1000, max: 100000 }),
  slaves: fc.array(fc.record({ link: absPath, name: altName, path: absPath }), { maxLength: 3 }),
});
type Command = Omit<Install, 'action' | 'line'>;

/** How each word is quoted (the shell takes all the same), and whether a line continuation follows it. */
const style = fc.array(fc.record({ quote: fc.constantFrom('bare', 'single', 'double', 'mixed'), breakAfter: fc.boolean() }), {
  minLength: 40,
  maxLength: 40,
});

function quoteWord(w: string, q: string): string {
  if (q === 'single') return `'${w}'`;
  if (q === 'double') return `"${w}"`;
  if (q === 'mixed' && w.length > 1) return `"${w.slice(0, 1)}"${w.slice(1)}`;
  return w;
}

/** The command as a script writes it: its words quoted as `styles` say, `--quiet` where `quiet` says. */
function render(c: Command, styles: { quote: string; breakAfter: boolean }[], quiet: number, program: string): string {
  const words = ['--install', c.link, c.name, c.path, String(c.priority)];
  for (const s of c.slaves) words.push('--slave', s.link, s.name, s.path);
  if (quiet >= 0) words.splice(Math.min(quiet, words.length), 0, '--quiet');
  // --quiet inside a group of arguments would change their meaning: keep it between groups.
  const text = [program];
  for (const [i, w] of words.entries()) {
    const st = styles[i % styles.length] as { quote: string; breakAfter: boolean };
    text.push(quoteWord(w, st.quote));
    if (st.breakAfter && i < words.length - 1) text.push('\\\n\t   ');
  }
  return text.join(' ');
}

/** Positions between argument groups where --quiet may go. */
const groupStarts = (c: Command): number[] => [0, 5, ...c.slaves.map((_, i) => 5 + 4 * (i + 1))];

/** Contexts a fresh install (`configure ''`) runs: [before, after]. */
const RUNS: [string, string][] = [
  ['', ''],
  ['set -e\nif [ "$1" = "configure" ]; then\n', '\nfi\n'],
  ['if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-remove" ] ; then\n', '\nfi\n'],
  ['case "$1" in\n  configure)\n', '\n  ;;\n  abort-upgrade|abort-remove)\n  ;;\n  *)\n    echo "unknown" >&2\n    exit 1\n  ;;\nesac\n'],
  ['case "$1" in\n    (configure|abort-upgrade)\n', '\n    ;;\nesac\n'],
  ['if test -z "$2"; then\n', '\nelse\n  echo upgrade\nfi\n'],
  ['if [ "$1" = remove ]; then\n  exit 0\nelif [ "$1" = configure ]; then\n', '\nfi\n'],
  ['if [ "$1" != "configure" ]; then\n  exit 0\nfi\n', '\n'],
  ['[ "$1" = configure ] || exit 0\n', '\n'],
  ['{\n', '\n} >/dev/null 2>&1\n'],
];

/** Contexts a fresh install never runs. */
const NEVER: [string, string][] = [
  ['if [ "$1" = "remove" ]; then\n', '\nfi\n'],
  ['case "$1" in\n  purge|remove)\n', '\n  ;;\nesac\n'],
  ['if [ -n "$2" ]; then\n', '\nfi\n'],
  ['unused() {\n', '\n}\n'],
  ['exit 0\n', '\n'],
  ['if false; then\n', '\nfi\n'],
];

/** Contexts whose running only the script knows. */
const MAYBE: [string, string][] = [
  ['if [ -x /usr/bin/foo ]; then\n', '\nfi\n'],
  ['if dpkg --compare-versions "$2" lt 1.0; then\n', '\nfi\n'],
  ['while read line; do\n', '\ndone < /etc/x\n'],
  ['case "$DPKG_MAINTSCRIPT_ARCH" in\n  amd64)\n', '\n  ;;\nesac\n'],
  ['if [ "$FOO" = y ]; then\n  exit 0\nfi\n', '\n'],
  ['command -v foo >/dev/null && ', '\n'],
  ['if [ "$(uname -s)" = Linux ]; then\n', '\nfi\n'],
];

const lineAt = (text: string, index: number): number => text.slice(0, index).split('\n').length;

describe('reading update-alternatives commands from a postinst', () => {
  it('reads literal commands that run on a fresh install, whatever their quoting, --quiet and line continuations', () => {
    fc.assert(
      fc.property(
        fc.array(command, { minLength: 1, maxLength: 3 }),
        style,
        fc.integer({ min: -1, max: 3 }),
        fc.constantFrom(...RUNS),
        fc.constantFrom('update-alternatives', '/usr/bin/update-alternatives', '/usr/sbin/update-alternatives'),
        (commands, styles, quietAt, [before, after], program) => {
          let body = '';
          const lines: number[] = [];
          for (const c of commands) {
            const starts = groupStarts(c);
            const quiet = quietAt < 0 ? -1 : (starts[quietAt % starts.length] as number);
            lines.push(lineAt(before + body, (before + body).length));
            body += `${render(c, styles, quiet, program)}\n`;
          }
          const read = readScriptAlternatives(`#!/bin/sh\n${before}${body}${after}`);
          assert.deepEqual(read.unread, []);
          assert.deepEqual(
            read.actions,
            // fast-check's records have no prototype: copied into plain objects to compare.
            commands.map((c, i) => ({ action: 'install', line: (lines[i] as number) + 1, ...c, slaves: c.slaves.map((s) => ({ ...s })) })),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('leaves out commands that a fresh install does not run, and says nothing of them', () => {
    fc.assert(
      fc.property(command, style, fc.constantFrom(...NEVER), (c, styles, [before, after]) => {
        const read = readScriptAlternatives(`#!/bin/sh\n${before}${render(c, styles, -1, 'update-alternatives')}${after}`);
        assert.deepEqual(read, { actions: [], unread: [] });
      }),
      { numRuns: 150 },
    );
  });

  it('reports, on its line, a command whose running only the script knows', () => {
    fc.assert(
      fc.property(command, style, fc.constantFrom(...MAYBE), (c, styles, [before, after]) => {
        const head = `#!/bin/sh\nset -e\n${before}`;
        const read = readScriptAlternatives(`${head}${render(c, styles, -1, 'update-alternatives')}${after}`);
        assert.deepEqual(read.actions, []);
        assert.equal(read.unread.length, 1);
        assert.equal(read.unread[0]?.line, lineAt(head, head.length));
        // The arguments are literal: the action is kept for what it would do.
        assert.equal(read.unread[0]?.action?.action, 'install');
      }),
      { numRuns: 150 },
    );
  });

  it('reports a command with a variable, a substitution or a pattern in any argument, never guessing it', () => {
    fc.assert(
      fc.property(
        command,
        fc.nat(),
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text, where ${prefix} is a parameter
        fc.constantFrom('$basedir/bin/java', '${prefix}', '$(dpkg --print-architecture)', '`uname -m`', '"$@"', '/usr/lib/*/x', '~/x'),
        (c, at, unknown) => {
          const words = ['update-alternatives', '--install', c.link, c.name, c.path, String(c.priority)];
          words[1 + (at % 5)] = unknown;
          const read = readScriptAlternatives(`#!/bin/sh\nif [ "$1" = configure ]; then\n  ${words.join(' ')}\nfi\n`);
          assert.deepEqual(read.actions, []);
          assert.equal(read.unread.length, 1);
          assert.equal(read.unread[0]?.line, 3);
          assert.equal(read.unread[0]?.action, undefined);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('unrolls a for loop over literal words', () => {
    fc.assert(
      fc.property(fc.uniqueArray(segment, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 99 }), (names, priority) => {
        const script = [
          '#!/bin/sh',
          'if [ "$1" = "configure" ]; then',
          `    for binary in ${names.join(' ')}; do`,
          '        update-alternatives \\',
          `            --install /usr/bin/\${binary} \${binary} /usr/bin/\${binary}8.2 ${priority} \\`,
          // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text, where ${binary} is the loop's variable
          '            --slave /usr/share/man/man1/${binary}.1.gz ${binary}.1.gz /usr/share/man/man1/${binary}8.2.1.gz',
          '    done',
          'fi',
          '',
        ].join('\n');
        const read = readScriptAlternatives(script);
        assert.deepEqual(read.unread, []);
        assert.deepEqual(
          read.actions,
          names.map((n) => ({
            action: 'install',
            line: 4,
            link: `/usr/bin/${n}`,
            name: n,
            path: `/usr/bin/${n}8.2`,
            priority,
            slaves: [{ link: `/usr/share/man/man1/${n}.1.gz`, name: `${n}.1.gz`, path: `/usr/share/man/man1/${n}8.2.1.gz` }],
          })),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('follows a function called where the script runs, with its own arguments', () => {
    const script = [
      '#! /bin/sh -e',
      'ua() {',
      '\tupdate-alternatives --install /usr/bin/which which /usr/bin/which.x 0 \\',
      '\t\t--slave /usr/share/man/man1/which.1.gz which.1.gz /usr/share/man/man1/which.x.1.gz',
      '}',
      'alt() { if [ "$1" = yes ]; then update-alternatives --install /usr/bin/a a /usr/bin/a.x 1; fi; }',
      'case "$1" in',
      '    (configure)',
      '\tupdate-shells',
      '\tua',
      '\talt yes',
      '\talt no',
      '    ;;',
      '    (*)',
      '\texit 1',
      '    ;;',
      'esac',
      '',
    ].join('\n');
    const read = readScriptAlternatives(script);
    assert.deepEqual(read.unread, []);
    assert.deepEqual(
      read.actions.map((a) => [a.action, a.line, 'name' in a ? a.name : '']),
      [
        ['install', 3, 'which'],
        ['install', 6, 'a'],
      ],
    );
  });

  it('reads --remove and --remove-all, and ignores commands that change nothing', () => {
    const read = readScriptAlternatives(
      [
        '#!/bin/sh',
        'set -e',
        '# update-alternatives --install /usr/bin/no no /usr/bin/no 1 (a comment)',
        'update-alternatives --remove rename /usr/bin/prename',
        'update-alternatives --quiet --remove-all old',
        'update-alternatives --display awk >/dev/null 2>&1 || true',
        'if update-alternatives --query x | grep -q y; then :; fi',
        'cat <<EOF > /etc/x',
        'update-alternatives --install /usr/bin/heredoc h /usr/bin/h 1',
        'EOF',
        'echo "update-alternatives --install is run by dpkg"',
        '',
      ].join('\n'),
    );
    assert.deepEqual(read.unread, []);
    assert.deepEqual(read.actions, [
      { action: 'remove', line: 4, name: 'rename', path: '/usr/bin/prename' },
      { action: 'remove-all', line: 5, name: 'old' },
    ]);
  });

  it('reports commands the build does not make, and a script it cannot read, line by line', () => {
    const read = readScriptAlternatives(
      [
        '#!/bin/sh',
        'update-alternatives --set editor /usr/bin/vim.basic',
        'update-alternatives --install /usr/bin/x x /usr/bin/y notanumber',
        'update-alternatives --root /target --install /usr/bin/x x /usr/bin/y 1',
        'eval "update-alternatives --install /usr/bin/x x /usr/bin/y 1"',
        '',
      ].join('\n'),
    );
    assert.deepEqual(read.actions, []);
    assert.deepEqual(
      read.unread.map((u) => u.line),
      [2, 3, 4, 5],
    );
    assert.match(read.unread[0]?.why ?? '', /--set/);
    const broken = readScriptAlternatives('#!/bin/sh\nif [ "$1" = configure ]; then\n  update-alternatives --install /a a /b 1\n');
    assert.deepEqual(broken.actions, []);
    assert.deepEqual(
      broken.unread.map((u) => u.line),
      [3],
    );
    assert.match(broken.unread[0]?.why ?? '', /not read/);
  });

  it('reads every maintainer script this machine has installed', { skip: listing('/var/lib/dpkg/info') === undefined }, () => {
    const dir = '/var/lib/dpkg/info';
    const names = (listing(dir) ?? []).filter((f) => /\.(postinst|preinst|prerm|postrm)$/.test(f));
    for (const f of names) {
      const text = readFileSync(`${dir}/${f}`, 'utf8');
      // A script in another shell (perl, bash) may not read; a sh script must.
      if (!/^#!\s*\/bin\/sh\b/.test(text)) continue;
      const read = readScriptAlternatives(text);
      assert.ok(!read.unread.some((u) => /not read/.test(u.why)), `${f}: ${JSON.stringify(read.unread)}`);
    }
  });
});

// What dash runs, against what the reading makes: update-alternatives is a program on dash's
// PATH that logs its arguments, and the script runs as dpkg runs a postinst on a fresh install.
const dashMissing = spawnSync('dash', ['-c', ':']).status !== 0;

const scratch = mkdtempSync(join(tmpdir(), 'script-reader-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
writeFileSync(join(scratch, 'update-alternatives'), '#!/bin/sh\nprintf \'%s\\n\' "$*" >> "$UA_LOG"\n');
chmodSync(join(scratch, 'update-alternatives'), 0o755);
let runs = 0;

/** The update-alternatives command lines dash runs for `script` (`postinst configure ''`) and its exit status, or undefined if it does not end. */
function dashRuns(script: string): { ran: string[]; status: number } | undefined {
  const log = join(scratch, `log-${runs++}`);
  writeFileSync(log, '');
  // dpkg runs the script itself: the kernel gives dash the options of its #! line.
  const flags = /^#![ \t]*\S+[ \t]+(-[A-Za-z]+)/.exec(script)?.[1];
  // timeout(1) kills the whole process group: the subshells a runaway script forks too.
  const dash = ['dash', ...(flags === undefined ? [] : [flags]), '-c', script, 'postinst', 'configure', ''];
  const r = spawnSync('timeout', ['-s', 'KILL', '2', ...dash], {
    env: { PATH: `${scratch}:/usr/bin:/bin`, UA_LOG: log },
    cwd: scratch,
    stdio: 'ignore',
  });
  const lines = readFileSync(log, 'utf8').split('\n').slice(0, -1);
  rmSync(log);
  return r.error !== undefined || r.status === null || r.status === 137 ? undefined : { ran: lines, status: r.status };
}

const argsOf = (a: AlternativesAction): string =>
  a.action === 'install'
    ? [`--install ${a.link} ${a.name} ${a.path} ${a.priority}`, ...a.slaves.map((s) => `--slave ${s.link} ${s.name} ${s.path}`)].join(' ')
    : a.action === 'remove'
      ? `--remove ${a.name} ${a.path}`
      : `--remove-all ${a.name}`;

/**
 * The reading of `script` against dash: what it makes, dash runs, in that order; and a command
 * dash runs that it does not make is reported. With `succeeding`, only a run that ends with 0 is
 * compared (false for the others): the reading takes a command whose status only the running
 * script knows to succeed where its failure would end the script under `set -e`, as it must for
 * dpkg to configure the package at all.
 */
function agreesWithDash(script: string, succeeding = false): boolean {
  const run = dashRuns(script);
  if (run === undefined || (succeeding && run.status !== 0)) return false;
  const { ran } = run;
  const read = readScriptAlternatives(script);
  const made = read.actions.map(argsOf);
  // The commands of a pipeline run side by side, in whichever order they happen to reach the log:
  // there, what is made must be among what dash ran, in any order (sorted, one is a subsequence
  // of the other exactly when it is a sub-multiset).
  const piped = /(^|[^|])\|([^|]|$)/.test(script);
  const [want, got] = piped ? [[...made].sort(), [...ran].sort()] : [made, ran];
  let k = 0;
  for (const line of got) if (line === want[k]) k++;
  assert.equal(k, made.length, `made ${JSON.stringify(made)}, dash ran ${JSON.stringify(ran)}:\n${script}`);
  if (ran.length > made.length)
    assert.ok(read.unread.length > 0, `dash ran ${JSON.stringify(ran)}, made ${JSON.stringify(made)}, nothing reported:\n${script}`);
  return true;
}

const ua = (path: string, priority: number | string): string => `update-alternatives --install /usr/bin/x x ${path} ${priority}`;

/** Scripts where the reading once made commands dash does not run, or said nothing of ones it runs. */
const REVIEWED: Record<string, string> = {
  assignmentStatus: `if out=$(false); then ${ua('/usr/bin/y', 1)}; fi`,
  assignmentAnd: `v=$(false) && ${ua('/usr/bin/y', 1)}`,
  breakInFor: `for p in /usr/bin/a /usr/bin/b; do\n${ua('$p', 10)}\nbreak\ndone`,
  continueInFor: `for p in a; do continue; ${ua('/usr/bin/y', 1)}; done`,
  exec: `exec /bin/true\n${ua('/usr/bin/y', 1)}`,
  conditionalFunction: `f() { :; }\nif [ -e /no/such/file ]; then f() { ${ua('/usr/bin/y', 1)}; }; fi\nf`,
  subshellFunction: `( f() { ${ua('/usr/bin/y', 1)}; } )\nf`,
  unsetFunction: `f() { ${ua('/usr/bin/y', 1)}; }\nunset -f f\nf`,
  evalAssignment: `for p in /usr/bin/a; do eval p=/usr/bin/b; ${ua('"$p"', 10)}; done`,
  arithmeticAssignment: `for p in 1; do : $((p=20)); ${ua('/usr/bin/y', '"$p"')}; done`,
  defaultAssignment: `for p in ''; do : \${p:=/usr/bin/z}; ${ua('"$p"', 1)}; done`,
  posixClass: `for x in 'a]'; do case $x in [[:alpha:]]) ${ua('/usr/bin/y', 1)} ;; esac; done`,
  ifsColon: `IFS=:\nfor p in "a:b"; do ${ua('/usr/bin/$p', 1)}; done`,
  ifsSlash: `IFS=/; for p in x; do :; done\nfor v in "/usr/bin/y 5"; do update-alternatives --install /usr/bin/x x $v; done`,
  setE: `set -e\nfalse\n${ua('/usr/bin/y', 1)}`,
  shebangE: `#!/bin/sh -e\n[ "$1" = remove ]\n${ua('/usr/bin/y', 1)}`,
  substitution: `x=$(${ua('/usr/bin/y', 1)})`,
  quotedSubstitution: `echo "$(${ua('/usr/bin/y', 1)})"`,
  backquotes: `echo \`${ua('/usr/bin/y', 1)}\``,
  functionInSubstitution: `f() { ${ua('/usr/bin/y', 1)}; }\nx=$(f)`,
  trap: `trap '${ua('/usr/bin/y', 1)}' EXIT`,
  hereDocument: `cat <<EOF >/dev/null\n$(${ua('/usr/bin/y', 1)})\nEOF`,
  alias: `alias ua=update-alternatives\nua --install /usr/bin/x x /usr/bin/y 10`,
  dotExit: `. /no/such/helper\n${ua('/usr/bin/y', 1)}`,
  shiftTooMany: `shift 3\n${ua('/usr/bin/y', 1)}`,
  divisionByZero: `: $((1/0))\n${ua('/usr/bin/y', 1)}`,
  nounset: `set -u\n: $nope\n${ua('/usr/bin/y', 1)}`,
  subshellExitStatus: `set -e\n(false)\n${ua('/usr/bin/y', 1)}`,
  substitutionInCondition: `set -e\nif x=$(false; true); then ${ua('/usr/bin/y', 1)}; fi`,
};

/** Statements dash and the reading may disagree on: each a line, some with its own newlines. */
const LEAVES = [
  'true',
  'false',
  ':',
  'exit 0',
  'exit 1',
  'return 0',
  'return 1',
  'break',
  'continue',
  'break 2',
  'continue 2',
  'exec /bin/true',
  'p=/usr/bin/b',
  'p=$(false)',
  'p=$(true)',
  'p=$(false; true)',
  'p=$(f)',
  'q=$(echo c)',
  'p=/usr/bin/c true',
  'p=/usr/bin/d :',
  'eval p=/usr/bin/e',
  `eval '${ua('/usr/bin/ev', 3)}'`,
  ': $((p=20))',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text
  ': ${p:=/usr/bin/z}',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text
  ': ${q:?}',
  'IFS=/',
  'IFS=:',
  'unset p',
  'unset -f f',
  'f',
  'g',
  'f configure',
  'p=$(f)',
  'set -e',
  'set +e',
  'set -u',
  'shift',
  'set -- remove',
  '[ "$1" = configure ]',
  '[ -z "$2" ]',
  '[ -e /no/such/file ]',
  '[ "$p" = /usr/bin/a ]',
  'read p < /dev/null',
  `x=$(${ua('/usr/bin/s', 4)})`,
  `echo "$(${ua('/usr/bin/t', 5)})" >/dev/null`,
  `trap '${ua('/usr/bin/tr', 6)}' EXIT`,
  `cat <<EOF >/dev/null\n$(${ua('/usr/bin/h', 7)})\nEOF`,
  '. /no/such/helper',
  'alias ua=update-alternatives',
  'ua --install /usr/bin/x x /usr/bin/al 8',
  ua('/usr/bin/a', 1),
  ua('"$p"', 2),
  ua('$p', 3),
  ua('/usr/bin/$q', 4),
  ua('"$1"', 5),
];

const PATTERNS = ['/usr/bin/a', '*a', '*/[ab]', '[[:alpha:]]*', '/usr/bin/?', '*', '[!a]*', '"$q"', 'c|d', '*b*a*'];

/** Commands whose status only the running script knows, which dash sees fail (f, g and ua are not found where no function or alias defines them). */
const FAILING = new Set([
  '[ -e /no/such/file ]',
  '[ "$p" = /usr/bin/a ]',
  'g',
  'f',
  'f configure',
  'p=$(f)',
  'read p < /dev/null',
  'ua --install /usr/bin/x x /usr/bin/al 8',
  // These end the script, or the subshell they are in, whose status the reading then does not know.
  '. /no/such/helper',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text
  ': ${q:?}',
]);

/** Calls of the functions: a function's body has none, so that no script recurses without end. */
const CALLS = new Set(['f', 'g', 'f configure', 'p=$(f)']);

const scripts = (leaves: readonly string[], functions = true): fc.Arbitrary<string> =>
  fc.letrec<{ list: string; command: string; simple: string }>((tie) => ({
    simple: fc.constantFrom(...leaves),
    list: fc.array(tie('command'), { minLength: 1, maxLength: 4 }).map((cs) => cs.join('\n')),
    command: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      { arbitrary: tie('simple'), weight: 6 },
      fc.tuple(tie('simple'), fc.constantFrom('&&', '||', '|'), tie('simple')).map(([a, op, b]) => `${a} ${op} ${b}`),
      tie('simple').map((a) => `! ${a}`),
      fc
        .tuple(tie('simple'), tie('list'), fc.option(tie('list')))
        .map(([c, t, e]) => `if ${c}\nthen\n${t}\n${e === null ? '' : `else\n${e}\n`}fi`),
      fc
        .tuple(fc.constantFrom('p in /usr/bin/a /usr/bin/b', 'q in c d', 'p in $q /usr/bin/a'), tie('list'))
        .map(([h, l]) => `for ${h}\ndo\n${l}\ndone`),
      tie('list').map((l) => `while false\ndo\n${l}\ndone`),
      fc
        .tuple(
          fc.constantFrom('$p', '"$q"', '$1'),
          fc.array(fc.tuple(fc.constantFrom(...PATTERNS), tie('list')), { minLength: 1, maxLength: 3 }),
        )
        .map(([w, items]) => `case ${w} in\n${items.map(([pat, l]) => `${pat})\n${l}\n;;`).join('\n')}\nesac`),
      functions
        ? fc
            .tuple(
              fc.constantFrom('f', 'g'),
              scripts(
                leaves.filter((l) => !CALLS.has(l)),
                false,
              ),
            )
            .map(([n, l]) => `${n}() {\n${l}\n}`)
        : tie('simple'),
      tie('list').map((l) => `(\n${l}\n)`),
      tie('list').map((l) => `{\n${l}\n}`),
    ),
  })).list;

describe('reading a postinst as dash runs it', { skip: dashMissing }, () => {
  it('makes only what dash runs, in its order, and reports what dash runs that it does not make', () => {
    fc.assert(
      fc.property(scripts(LEAVES), (script) => {
        fc.pre(agreesWithDash(script, true));
      }),
      { numRuns: 400 },
    );
  });

  it('does so on runs that fail too, where only commands the reading settles fail', () => {
    // Without set -e: there a command whose status becomes unknown (after a shift that may have
    // run) is taken to succeed, which only a run that succeeds bears out.
    fc.assert(
      fc.property(scripts(LEAVES.filter((l) => !FAILING.has(l) && l !== 'set -e')), (script) => {
        fc.pre(agreesWithDash(script));
      }),
      { numRuns: 400 },
    );
  });

  for (const [name, script] of Object.entries(REVIEWED))
    it(`agrees with dash: ${name}`, () => {
      assert.ok(agreesWithDash(script), 'dash ends');
    });
});

describe('reading a hostile postinst', () => {
  const words = Array.from({ length: 300 }, (_, i) => `w${i}`).join(' ');
  let calls = 'f0() { :; }\n';
  for (let i = 1; i <= 30; i++) calls += `f${i}() { f${i - 1}; f${i - 1}; }\n`;
  let doubling = 'for a0 in aaaa; do\n';
  for (let i = 1; i <= 30; i++) doubling += `for a${i} in $a${i - 1}$a${i - 1}; do\n`;
  const hostile: Record<string, string> = {
    nestedGroups: `${'{ '.repeat(100_000)}:${'; }'.repeat(100_000)}`,
    nestedSubshells: `${'('.repeat(100_000)}:${')'.repeat(100_000)}`,
    longAndList: `${Array.from({ length: 50_000 }, () => 'true').join(' && ')}`,
    exponentialCalls: `${calls}f30\n${ua('/usr/bin/y', 1)}`,
    nestedLoops: `for a in ${words}; do for b in ${words}; do for c in ${words}; do for d in ${words}; do :; done; done; done; done\n${ua('/usr/bin/y', 1)}`,
    doublingWords: `${doubling}:\n${'done\n'.repeat(31)}${ua('/usr/bin/y', 1)}`,
    backtrackingPattern: `for x in ${'a'.repeat(40)}; do case $x in ${'*a'.repeat(12)}*b) :;; esac; done\n${ua('/usr/bin/y', 1)}`,
    manyCommands: `for a in ${'x '.repeat(200_000)}; do ${ua('/usr/bin/y', 1)}; done`,
    deepEval: `${'eval '.repeat(2000)}${ua('/usr/bin/y', 1)}`,
    nestedSubstitutions: `${'x=$('.repeat(5000)}:${')'.repeat(5000)}\n${ua('/usr/bin/y', 1)}`,
  };
  it('reads each to its end, or reports it not read, and never throws', () => {
    const reader = new URL('../../../src/pkg/deb/script-reader.ts', import.meta.url).href;
    for (const [name, script] of Object.entries(hostile)) {
      // In a child process: an unbounded reading would never return to this one. The time limit
      // only stops a reading that does not end (each takes well under a second here); how long
      // a reading takes is not what is asserted: the reader counts its steps, not time.
      const code = `import { readScriptAlternatives } from ${JSON.stringify(reader)};
        const script = process.getBuiltinModule('node:fs').readFileSync(0, 'utf8');
        const r = readScriptAlternatives(script);
        console.log(JSON.stringify({ actions: r.actions.length, unread: r.unread.map((u) => u.why) }));`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
        input: script,
        timeout: 30_000,
        encoding: 'utf8',
      });
      assert.equal(r.signal, null, `${name}: the reading did not end`);
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      const out = JSON.parse(r.stdout) as { actions: number; unread: string[] };
      if (out.actions === 0 && /update-alternatives/.test(script)) assert.ok(out.unread.length > 0, `${name}: nothing reported`);
    }
  });
});

function listing(dir: string): string[] | undefined {
  try {
    return readdirSync(dir);
  } catch {
    return undefined;
  }
}
