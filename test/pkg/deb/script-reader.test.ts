// The static reading of maintainer scripts for update-alternatives commands: literal commands
// under conditions the reading can settle are read, with their lines; anything that depends on
// what only the running script knows is reported, never guessed.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
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

function listing(dir: string): string[] | undefined {
  try {
    return readdirSync(dir);
  } catch {
    return undefined;
  }
}
