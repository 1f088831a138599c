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

/**
 * Values known only when the script is written, by flag as in {@link CHOICES}: `target` gets the
 * ids of the target profiles.
 */
export type ExtraChoices = Record<string, readonly string[]>;

function choices(command: string, flag: string, extra: ExtraChoices, spec: FlagSpec | undefined): readonly string[] | undefined {
  return extra[`${command}.${flag}`] ?? extra[flag] ?? spec?.values ?? CHOICES[`${command}.${flag}`] ?? CHOICES[flag];
}

function flagWords(spec: CommandSpec): string[] {
  return Object.entries(spec.flags).flatMap(([name, f]) => [`--${name}`, ...(f.short ? [`-${f.short}`] : [])]);
}

/** A bash script: `source <(provenant completion bash)`. */
export function bashCompletion(specs: Record<string, CommandSpec>, extra: ExtraChoices = {}): string {
  const names = Object.keys(specs);
  const cases = Object.entries(specs).map(([name, spec]) => {
    const subs = Object.keys(spec.subcommands ?? {}).join(' ');
    return `    ${name}) flags=${JSON.stringify(flagWords(spec).join(' '))}; subs=${JSON.stringify(subs)} ;;`;
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
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _provenant provenant
`;
}

/** Text inside a single-quoted zsh word, with _arguments' own specials escaped. */
function zshText(text: string): string {
  return text.replace(/([[\]:\\])/g, '\\$1').replaceAll("'", "'\\''");
}

function zshFlags(command: string, spec: CommandSpec, extra: ExtraChoices): string[] {
  return Object.entries(spec.flags).flatMap(([name, f]) => {
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
    const subs = Object.keys(spec.subcommands ?? {});
    const first = subs.length > 0 ? [`'1:subcommand:(${subs.join(' ')})'`] : [];
    return `    ${name}) _arguments -s ${[...first, ...zshFlags(name, spec, extra), "'*:file:_files'"].join(' ')} ;;`;
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
    "complete -c provenant -n __fish_use_subcommand -a help -d 'show the commands, or the flags of one'",
    `complete -c provenant -n '__fish_seen_subcommand_from help' -a '${names.join(' ')}'`,
  ];
  for (const [name, spec] of Object.entries(specs)) {
    const when = `__fish_seen_subcommand_from ${name}`;
    lines.push(`complete -c provenant -n __fish_use_subcommand -a ${name} -d '${fishText(spec.summary)}'`);
    const subs = Object.entries(spec.subcommands ?? {});
    const subNames = subs.map(([s]) => s).join(' ');
    for (const [sub, s] of subs) {
      lines.push(
        `complete -c provenant -n '${when}; and not __fish_seen_subcommand_from ${subNames}' -a ${sub} -d '${fishText(s.summary)}'`,
      );
    }
    // Arguments are files and references; files are offered for every command but env and version.
    if (name !== 'env' && name !== 'version') lines.push(`complete -c provenant -n '${when}' -F`);
    for (const [flag, f] of Object.entries(spec.flags)) {
      const values = choices(name, flag, extra, f);
      const takes = f.type === 'string' ? (values ? ` -x -a '${values.join(' ')}'` : ' -r') : '';
      lines.push(`complete -c provenant -n '${when}' -l ${flag}${f.short ? ` -s ${f.short}` : ''}${takes} -d '${fishText(f.description)}'`);
    }
  }
  return `${lines.join('\n')}\n`;
}
