# bash completion for keyhole. Installed by `make install` to
# $(PREFIX)/share/bash-completion/completions/keyhole.
# tests/integration/test_completion_and_man.py fails when a command or an
# option in `keyhole --help` / `keyhole <command> --help` is missing here.

_keyhole() {
    local cur prev cmd i
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}

    local commands="proxy setup start stop status disable config reload log token docker podman sandbox bench help"
    cmd=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done

    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$commands -h --help -V --version" -- "$cur"))
        return
    fi

    # values of options that take one
    case $prev in
        --home|--env-file|--config|--cacert|--file)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --ttl)
            COMPREPLY=($(compgen -W "30m 1h 24h 7d none" -- "$cur")); return ;;
        --log-level)
            COMPREPLY=($(compgen -W "debug info warn error" -- "$cur")); return ;;
        --format)
            COMPREPLY=($(compgen -W "shell json lines" -- "$cur")); return ;;
        --tunnel-port|--url|--proxy|--resolve|--connect-to|-X|--method|-H|--header|\
        --body-size|-c|--connections|-t|--threads|-d|--duration|-n|--requests|--warmup|\
        --ramp|--timeout|--idle|--hold|--allow-host|-e|--label|--budget|--provider)
            return ;;
    esac

    local opts
    case $cmd in
        proxy)   opts="--home --config --log-level" ;;
        setup)   opts="--home --tunnel-port --from-bitwarden --no-bitwarden --rotate-tokens -y --yes" ;;
        start|stop|disable|config|reload) opts="--home" ;;
        status)  opts="--home --show-tokens --json" ;;
        log)     opts="--home --file -f --follow --denied --json" ;;
        token)
            if [[ $COMP_CWORD -eq $((i + 1)) && $cur != -* ]]; then
                COMPREPLY=($(compgen -W "issue revoke list" -- "$cur")); return
            fi
            opts="--home --label --ttl --budget --provider --json" ;;
        docker)
            if [[ $COMP_CWORD -eq $((i + 1)) ]]; then
                COMPREPLY=($(compgen -W "args run" -- "$cur")); return
            fi
            opts="--home --env-file -e --format --label" ;;
        podman)
            if [[ $COMP_CWORD -eq $((i + 1)) ]]; then
                COMPREPLY=($(compgen -W "args run" -- "$cur")); return
            fi
            opts="--home --env-file -e --format --label --network" ;;
        sandbox)
            if [[ $cur != -* && $prev != -* && $COMP_CWORD -gt $((i + 1)) ]]; then
                COMPREPLY=($(compgen -c -- "$cur")); return
            fi
            opts="--home --workdir --allow-host --" ;;
        bench)   opts="--url --proxy --resolve --connect-to --cacert -X --method -H --header
                       --body-size --sse -c --connections -t --threads -d --duration
                       -n --requests --warmup --new-conn --ramp --timeout --idle --hold --json" ;;
        help)    COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
        *)       return ;;
    esac
    COMPREPLY=($(compgen -W "$opts -h --help" -- "$cur"))
}

complete -F _keyhole keyhole
