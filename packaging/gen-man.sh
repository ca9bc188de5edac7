#!/usr/bin/env bash
# Writes the helpstack(1) man page: the hand-written prose of packaging/helpstack.1.in
# with its "@COMMANDS@" line replaced by every subcommand, argument and flag the given
# binary prints with -h (recursively), and its "@CONFIGURATION@" line by every config
# key the binary lists with `config keys`, so the page always matches the binary.
#
#     bash packaging/gen-man.sh BIN OUT      (packaging/build-deb.sh runs it)
set -euo pipefail
bin="$1"
out="$2"
here="$(cd "$(dirname "$0")" && pwd)"
template="$here/helpstack.1.in"
version="$("$bin" --version | awk '{print $2}')"

# Escapes text for troff: backslashes, hyphens, and a leading dot or quote.
esc() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\([.']\)/\\\\\&\1/"; }

# The names in the "Commands:" block of a help text, except "help".
subcommands() { "$bin" "$@" -h | awk '/^Commands:/{c=1;next} /^[^ ]/{c=0} c && NF && $1!="help"{print $1}'; }

# One subcommand: .SS title, about, usage, arguments and options (not --config/--help,
# which are global and listed once).
describe() {
    local help
    help="$("$bin" "$@" -h)"
    printf '.SS "%s"\n' "$(printf '%s' "$*" | esc)"
    printf '%s\n' "$help" | awk '/^$/{exit} {print}' | esc
    printf '.PP\nUsage: \\fB%s\\fR' "$(printf 'helpstack %s' "$*" | esc)"
    printf '%s\n' "$help" | sed -n "s/^Usage: helpstack $* *//p" | esc | sed 's/^/ /'
    printf '%s\n' "$help" | awk '
        /^(Arguments|Options):$/ {block=1; next}
        /^[^ ]/ {block=0}
        !block || !NF {next}
        {
            line=$0
            match(line, /^ */)
            indent=RLENGTH
            if (indent <= 6 && substr(line, indent+1, 1) ~ /[-<\[]/) {
                sub(/^ +/, "", line)
                spec=line; desc=""
                if (match(line, /  +/)) { spec=substr(line, 1, RSTART-1); desc=substr(line, RSTART+RLENGTH) }
                skip = (spec ~ /^--config / || spec ~ /--help$/ || spec ~ /--version$/)
                if (!skip) { print "\001" spec; if (desc != "") print desc }
            } else if (!skip) {
                sub(/^ +/, "", line); print line
            }
        }' | esc | sed 's/^\x01\(.*\)$/.TP\n.B "\1"/'
    local sub
    for sub in $(subcommands "$@"); do
        describe "$@" "$sub"
    done
}

# One config key per `config keys` line (key, env names, type, default, description):
# .TP, the key in bold, then where it is read from, its default and what it does.
config_keys() {
    "$bin" config keys | while IFS=$'\t' read -r key env kind default doc; do
        printf '.TP\n.B %s\n' "$(printf '%s' "$key" | esc)"
        printf '%s (%s); default: %s. %s\n' "${env//,/ or }" "$kind" "$default" "$doc" | esc
    done
}

commands="$(mktemp)"
configuration="$(mktemp)"
trap 'rm -f "$commands" "$configuration"' EXIT
for cmd in $(subcommands); do
    describe "$cmd"
done >"$commands"
config_keys >"$configuration"
for line in @COMMANDS@ @CONFIGURATION@; do
    grep -q "^$line\$" "$template" || { echo "gen-man: no $line line in $template" >&2; exit 1; }
done
sed -e "/^@COMMANDS@\$/{r $commands" -e 'd}' \
    -e "/^@CONFIGURATION@\$/{r $configuration" -e 'd}' \
    -e "s/@VERSION@/$version/g" "$template" >"$out"
