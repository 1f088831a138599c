/**
 * Shell completion scripts for bash, zsh and fish, written from the command specs, so that they
 * complete exactly the commands, subcommands and flags `provenant help` lists.
 */
import type { FlagSpec } from './args.ts';
import type { CommandSpec } from './command.ts';

/** Values a flag takes from a fixed set: by flag, or by `command.flag` where commands differ. */
const CHOICES: Record<string, readonly string[]> = {
  'build.attestations': ['referrers', 'buildkit', 'buildkit-artifact', 'cosign', 'none'],
  'attest.attestations': ['referrers', 'cosign', 'buildkit', 'buildkit-artifact'],
  'index.attestations': ['keep', 'buildkit', 'referrers'],
  'sbom.type': ['spdx', 'cyclonedx'],
  sbom: ['true', 'false'],
  'layer-cache': ['true', 'false'],
};

/** A command's first argument when it is one of a fixed set (and the command has no subcommands). */
const ARGUMENTS: Record<string, readonly string[]> = {
  completion: ['bash', 'zsh', 'fish'],
};

/** What a command's first argument is offered from: its subcommands, else {@link ARGUMENTS}. */
function firstWords(name: string, spec: CommandSpec): readonly string[] {
  const subs = Object.keys(spec.subcommands ?? {});
  return subs.length > 0 ? subs : (ARGUMENTS[name] ?? []);
}

/**
 * Values known only when the script is written, by flag as in {@link CHOICES}: `target` gets the
 * ids of the target profiles.
 */
export type ExtraChoices = Record<string, readonly string[]>;

function choices(command: string, flag: string, extra: ExtraChoices, spec: FlagSpec | undefined): readonly string[] | undefined {
  return extra[`${command}.${flag}`] ?? extra[flag] ?? spec?.values ?? CHOICES[`${command}.${flag}`] ?? CHOICES[flag];
}

/** The flags `spec` offers: all of them, or those of one subcommand (help's list for it). */
function flagsOf(spec: CommandSpec, sub?: string): [string, FlagSpec][] {
  const only = sub === undefined ? undefined : spec.subcommands?.[sub]?.flags;
  return Object.entries(spec.flags).filter(([name]) => only === undefined || only.includes(name));
}

function flagWords(spec: CommandSpec, sub?: string): string[] {
  return flagsOf(spec, sub).flatMap(([name, f]) => [`--${name}`, ...(f.short ? [`-${f.short}`] : [])]);
}

/** A bash script: `source <(provenant completion bash)`. */
export function bashCompletion(specs: Record<string, CommandSpec>, extra: ExtraChoices = {}): string {
  const names = Object.keys(specs);
  const cases = Object.entries(specs).map(([name, spec]) => {
    const subs = firstWords(name, spec).join(' ');
    const all = `flags=${JSON.stringify(flagWords(spec).join(' '))}`;
    if (spec.subcommands === undefined) return `    ${name}) ${all}; subs=${JSON.stringify(subs)} ;;`;
    // Once the subcommand is given, its own flags only, as help lists them.
    const bySub = Object.keys(spec.subcommands).map((sub) => `${sub}) flags=${JSON.stringify(flagWords(spec, sub).join(' '))} ;;`);
    return `    ${name}) subs=${JSON.stringify(subs)}; case \${COMP_WORDS[2]} in ${bySub.join(' ')} *) ${all} ;; esac ;;`;
  });
  const choiceCases = Object.entries(specs).flatMap(([name, spec]) =>
    Object.keys(spec.flags).flatMap((flag) => {
      const values = choices(name, flag, extra, spec.flags[flag]);
      return values === undefined ? [] : [`    '${name} --${flag}') COMPREPLY=($(compgen -W '${values.join(' ')}' -- "$cur")); return ;;`];
    }),
  );
  return `# bash completion for provenant: source <(provenant completion bash), or write it to
# ~/.local/share/bash-completion/completions/provenant
_provenant() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd=\${COMP_WORDS[1]} flags='' subs=''
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W ${JSON.stringify(['help', ...names].join(' '))} -- "$cur"))
    return
  fi
  case $cmd in
    help)
      ((COMP_CWORD == 2)) && COMPREPLY=($(compgen -W ${JSON.stringify(names.join(' '))} -- "$cur"))
      return ;;
${cases.join('\n')}
    *) return ;;
  esac
  case "$cmd $prev" in
${choiceCases.join('\n')}
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [[ -n $subs ]] && ((COMP_CWORD == 2)); then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  else
    # One name a line: a file name with a space is one word (read, not mapfile: bash 3.2 has none).
    COMPREPLY=()
    local f
    while IFS= read -r f; do COMPREPLY+=("$f"); done < <(compgen -f -- "$cur")
  fi
}
complete -o filenames -F _provenant provenant
`;
}

/** Text inside a single-quoted zsh word, with _arguments' own specials escaped. */
function zshText(text: string): string {
  return text.replace(/([[\]:\\])/g, '\\$1').replaceAll("'", "'\\''");
}

function zshFlags(command: string, spec: CommandSpec, extra: ExtraChoices, sub?: string): string[] {
  return flagsOf(spec, sub).flatMap(([name, f]) => {
    const description = `[${zshText(f.description)}]`;
    const values = choices(command, name, extra, f);
    const value = f.type === 'boolean' ? '' : `:${name}:${values ? `(${values.join(' ')})` : '_files'}`;
    const repeat = f.multiple ? '*' : '';
    const forms = [`${repeat}--${name}${f.type === 'string' ? '=' : ''}${description}${value}`];
    if (f.short) forms.push(`${repeat}-${f.short}${description}${value}`);
    return forms.map((form) => `'${form}'`);
  });
}

/** A zsh script: `source <(provenant completion zsh)`, or saved as `_provenant` on $fpath. */
export function zshCompletion(specs: Record<string, CommandSpec>, extra: ExtraChoices = {}): string {
  const described = Object.entries(specs).map(([name, s]) => `    '${name}:${zshText(s.summary)}'`);
  const cases = Object.entries(specs).map(([name, spec]) => {
    const words = firstWords(name, spec);
    const first = words.length > 0 ? [`'1:${spec.subcommands ? 'subcommand' : 'argument'}:(${words.join(' ')})'`] : [];
    const args = (sub?: string) => [...first, ...zshFlags(name, spec, extra, sub), "'*:file:_files'"].join(' ');
    if (spec.subcommands === undefined) return `    ${name}) _arguments -s ${args()} ;;`;
    // Once the subcommand is given, its own flags only, as help lists them.
    const bySub = Object.keys(spec.subcommands).map((sub) => `      ${sub}) _arguments -s ${args(sub)} ;;`);
    return `    ${name})\n      case $words[2] in\n${bySub.join('\n')}\n      *) _arguments -s ${args()} ;;\n      esac ;;`;
  });
  return `#compdef provenant
# zsh completion for provenant: source <(provenant completion zsh), or save it as _provenant in a
# folder of $fpath
_provenant() {
  local -a commands
  commands=(
    'help:show the commands, or the flags of one'
${described.join('\n')}
  )
  if ((CURRENT == 2)); then
    _describe -t commands 'provenant command' commands
    return
  fi
  local cmd=$words[2]
  shift words
  ((CURRENT--))
  case $cmd in
    help) _arguments '1:command:(${Object.keys(specs).join(' ')})' ;;
${cases.join('\n')}
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _provenant "$@"
else
  compdef _provenant provenant
fi
`;
}

/** Text inside a single-quoted fish word. */
function fishText(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll("'", "\\'");
}

/** A fish script: `provenant completion fish | source`, or saved in ~/.config/fish/completions/provenant.fish. */
export function fishCompletion(specs: Record<string, CommandSpec>, extra: ExtraChoices = {}): string {
  const names = Object.keys(specs);
  const lines = [
    '# fish completion for provenant: provenant completion fish | source, or save it as',
    '# ~/.config/fish/completions/provenant.fish',
    'complete -c provenant -f',
    // The words after provenant are $argv, in order: `__provenant_is apk keygen`. fish's own
    // __fish_seen_subcommand_from looks anywhere, and took `apk index` for the command index.
    'function __provenant_is',
    '    set -l words (commandline -opc)',
    '    set -l last (math (count $argv) + 1)',
    '    test (count $words) -ge $last; and test "$words[2..$last]" = "$argv"',
    'end',
    '# Whether the word after the command is one of $argv: a subcommand given.',
    'function __provenant_sub_in',
    '    set -l words (commandline -opc)',
    '    test (count $words) -ge 3; and contains -- $words[3] $argv',
    'end',
    '# The words after provenant and its command, before the one being completed.',
    'function __provenant_args',
    '    count (commandline -opc)[3..-1]',
    'end',
    "complete -c provenant -n __fish_use_subcommand -a help -d 'show the commands, or the flags of one'",
    `complete -c provenant -n '__provenant_is help; and test (__provenant_args) -eq 0' -a '${names.join(' ')}'`,
  ];
  for (const [name, spec] of Object.entries(specs)) {
    const when = `__provenant_is ${name}`;
    lines.push(`complete -c provenant -n __fish_use_subcommand -a ${name} -d '${fishText(spec.summary)}'`);
    const first = `${when}; and test (__provenant_args) -eq 0`;
    for (const [sub, s] of Object.entries(spec.subcommands ?? {})) {
      lines.push(`complete -c provenant -n '${first}' -a ${sub} -d '${fishText(s.summary)}'`);
    }
    if (spec.subcommands === undefined && ARGUMENTS[name] !== undefined) {
      lines.push(`complete -c provenant -n '${first}' -a '${ARGUMENTS[name].join(' ')}'`);
    }
    // Arguments are files and references; files are offered for every command but env and version.
    if (name !== 'env' && name !== 'version') lines.push(`complete -c provenant -n '${when}' -F`);
    const flag = (on: string, flagName: string, f: FlagSpec): string => {
      const values = choices(name, flagName, extra, f);
      const takes = f.type === 'string' ? (values ? ` -x -a '${values.join(' ')}'` : ' -r') : '';
      return `complete -c provenant -n '${on}' -l ${flagName}${f.short ? ` -s ${f.short}` : ''}${takes} -d '${fishText(f.description)}'`;
    };
    if (spec.subcommands === undefined) {
      for (const [flagName, f] of flagsOf(spec)) lines.push(flag(when, flagName, f));
    } else {
      // Once the subcommand is given, its own flags only, as help lists them; all before it.
      const subs = Object.keys(spec.subcommands);
      for (const [flagName, f] of flagsOf(spec)) lines.push(flag(`${when}; and not __provenant_sub_in ${subs.join(' ')}`, flagName, f));
      for (const sub of subs) {
        for (const [flagName, f] of flagsOf(spec, sub)) lines.push(flag(`__provenant_is ${name} ${sub}`, flagName, f));
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
