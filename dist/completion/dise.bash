# SPDX-License-Identifier: MIT
# bash completion for dise and dise-run. The commands and their options are
# read from dise itself (dise --help, dise COMMAND --help), so they never
# drift from the binary.

_dise_commands()
{
    "$1" --help 2>/dev/null | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p'
}

_dise_verbs()
{
    case $1 in
        collector) echo "start stop status" ;;
        ring) echo "stat dump reset" ;;
        preload) echo "enable disable status" ;;
        service) echo "watch unwatch status" ;;
        tool) echo "add" ;;
    esac
}

_dise_run()
{
    # after dise run / dise-run: TOOL, then TOOL's own arguments
    local cur=${COMP_WORDS[COMP_CWORD]}
    if [ "$1" -eq "$COMP_CWORD" ]; then
        COMPREPLY=($(compgen -c -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}

_dise()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prog=${COMP_WORDS[0]} cmd
    COMPREPLY=()
    case ${prog##*/} in
        dise-run) _dise_run 1; return ;;
    esac
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "$(_dise_commands "$prog") --help --version" -- "$cur"))
        return
    fi
    cmd=${COMP_WORDS[1]}
    case $cmd in
        run) _dise_run 2; return ;;
    esac
    case $cur in
        -*)
            COMPREPLY=($(compgen -W "--help $("$prog" "$cmd" --help 2>/dev/null | grep -o -- '--[a-z][a-z-]*' | sort -u)" -- "$cur"))
            return ;;
    esac
    if [ "$COMP_CWORD" -eq 2 ] && [ -n "$(_dise_verbs "$cmd")" ]; then
        COMPREPLY=($(compgen -W "$(_dise_verbs "$cmd")" -- "$cur"))
    elif [ "$cmd" = help ] && [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=($(compgen -W "$(_dise_commands "$prog")" -- "$cur"))
    elif [ "$cmd" = service ] && [ "$COMP_CWORD" -eq 3 ]; then
        COMPREPLY=($(compgen -W "$(systemctl list-unit-files --type=service --no-legend 2>/dev/null | cut -d' ' -f1)" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -F _dise dise dise-run
