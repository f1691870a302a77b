import { Argument, type Command, type Option } from 'commander';
import type { CommandModule } from './types.js';

interface Spec {
  path: string[];
  description: string;
  options: { flags: string[]; takesValue: boolean; description: string; choices?: readonly string[] }[];
  subcommands: Spec[];
}

function optionSpec(o: Option) {
  return {
    flags: [o.short, o.long].filter((f): f is string => Boolean(f)),
    takesValue: o.required || o.optional,
    description: o.description,
    choices: o.argChoices,
  };
}

/** The command tree as completion needs it, read from the live program (so added commands appear). */
function specOf(cmd: Command, path: string[] = []): Spec {
  return {
    path,
    description: cmd.description(),
    options: cmd.options.filter((o) => !o.hidden).map(optionSpec),
    subcommands: cmd.commands.filter((c) => c.name() !== 'help').map((c) => specOf(c, [...path, c.name()])),
  };
}

const q = (s: string) => s.replace(/'/g, `'\\''`);

export function bashCompletion(program: Command): string {
  const root = specOf(program);
  const globalWords = root.options.flatMap((o) => o.flags);
  const valueFlags = root.options.filter((o) => o.takesValue).flatMap((o) => o.flags);
  const cases: string[] = [];
  const walk = (s: Spec) => {
    for (const sub of s.subcommands) {
      const words = [...sub.options.flatMap((o) => o.flags), ...sub.subcommands.map((c) => c.path[c.path.length - 1])];
      cases.push(`    '${sub.path.join(' ')}') words='${q(words.join(' '))}' ;;`);
      walk(sub);
    }
  };
  walk(root);
  const choiceCases = root.subcommands
    .flatMap((s) => [s, ...s.subcommands])
    .flatMap((s) => s.options.filter((o) => o.choices).flatMap((o) => o.flags.map((f) => `    ${f}) COMPREPLY=( $(compgen -W '${o.choices!.join(' ')}' -- "$cur") ); return ;;`)));
  const uniqueChoices = [...new Set(choiceCases)];
  return `# bash completion for strata. Install: strata completion bash > /etc/bash_completion.d/strata
# or add to ~/.bashrc: source <(strata completion bash)
_strata() {
  local cur prev path="" i w skip=0
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
${uniqueChoices.join('\n')}
    ${valueFlags.join('|')}|--exclude|--exclude-file|--include|--target|-t|--tag|--host|--time|--set|--stdin-filename|--from-repo|--from-password-file|--new-password-file|--compression|--path|--read-data-subset)
      COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
  esac
  for ((i=1; i<COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if ((skip)); then skip=0; continue; fi
    case " ${valueFlags.join(' ')} " in *" $w "*) skip=1; continue ;; esac
    case "$w" in
      -*) ;;
      *) if [[ -z "$path" ]]; then path="$w"; elif [[ "$path" == key ]]; then path="$path $w"; fi ;;
    esac
  done
  local words
  case "$path" in
    '') words='${q([...root.subcommands.map((c) => c.path[0]), ...globalWords].join(' '))}' ;;
${cases.join('\n')}
    *) words='' ;;
  esac
  if [[ -z "$path" || "$cur" == -* || "$path" == key ]]; then
    COMPREPLY=( $(compgen -W "$words ${globalWords.join(' ')}" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
complete -o default -F _strata strata
`;
}

export function zshCompletion(program: Command): string {
  const root = specOf(program);
  const optLines = (s: Spec) =>
    s.options.map((o) => {
      const desc = q(o.description.replace(/[[\]:]/g, ' '));
      const value = o.takesValue ? `:value:${o.choices ? `(${o.choices.join(' ')})` : '_files'}` : '';
      const names = o.flags.length > 1 ? `{${o.flags.join(',')}}` : o.flags[0];
      const repeat = /repeatable/.test(o.description) ? '*' : '';
      return o.flags.length > 1 ? `    '(${o.flags.join(' ')})'${repeat}${names}'[${desc}]${value}'` : `    '${repeat}${names}[${desc}]${value}'`;
    });
  const globals = optLines(root);
  const functions: string[] = [];
  const fnName = (s: Spec) => `_strata_${s.path.join('_').replace(/-/g, '_')}`;
  const describeCommands = (s: Spec) => s.subcommands.map((c) => `    '${c.path[c.path.length - 1]}:${q(c.description.replace(/:/g, ' '))}'`).join('\n');
  const walk = (s: Spec) => {
    for (const sub of s.subcommands) {
      if (sub.subcommands.length) {
        functions.push(`${fnName(sub)}() {
  local -a commands
  commands=(
${describeCommands(sub)}
  )
  _arguments -C \\
${[...globals, ...optLines(sub)].map((l) => `${l} \\`).join('\n')}
    '1: :->cmd' '*:: :->args'
  case $state in
    cmd) _describe 'command' commands ;;
    args) case $words[1] in
${sub.subcommands.map((c) => `      ${c.path[c.path.length - 1]}) ${fnName(c)} ;;`).join('\n')}
    esac ;;
  esac
}`);
        walk(sub);
      } else {
        functions.push(`${fnName(sub)}() {
  _arguments \\
${[...globals, ...optLines(sub)].map((l) => `${l} \\`).join('\n')}
    '*:file:_files'
}`);
      }
    }
  };
  walk(root);
  return `#compdef strata
# zsh completion for strata. Install: strata completion zsh > "\${fpath[1]}/_strata"
# or add to ~/.zshrc: source <(strata completion zsh)
${functions.join('\n\n')}

_strata() {
  local -a commands
  commands=(
${describeCommands(root)}
  )
  _arguments -C \\
${globals.map((l) => `${l} \\`).join('\n')}
    '1: :->cmd' '*:: :->args'
  case $state in
    cmd) _describe 'command' commands ;;
    args) case $words[1] in
${root.subcommands.map((c) => `      ${c.path[0]}) ${fnName(c)} ;;`).join('\n')}
    esac ;;
  esac
}

if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _strata "$@"
else
  compdef _strata strata
fi
`;
}

export const command: CommandModule = {
  register(program, app) {
    program
      .command('completion')
      .description('print a shell completion script')
      .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh']))
      .addHelpText(
        'after',
        `
Examples:
  $ source <(strata completion bash)
  $ strata completion zsh > "\${fpath[1]}/_strata"`,
      )
      .action(
        app.action(async (ctx, shell: 'bash' | 'zsh') => {
          process.stdout.write(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
        }),
      );
  },
};
