#!/usr/bin/env bash
# The manual pages and --help agree with the programs, for blockkit(1)
# and nbdattach(8):
#   - every option --help prints has an =item of its own in the man
#     page's OPTIONS, and every option an =item there names is in --help;
#   - every option the program accepts (blockkit: --short-options and
#     --long-options; nbdattach: its getopt tables) is in --help or, for
#     an alternative spelling, at least mentioned in the man page's
#     OPTIONS;
#   - the SYNOPSIS names every option of --help (blockkit);
#   - blockkit(1)'s SEE ALSO names every plugin and filter page, nbdattach(8),
#     blockkit-devices(7), blockkit-plugin(3) and blockkit-filter(3).
source "${srcdir:-$(dirname "$0")}/functions.sh"

is_blockkit || skip "checks blockkit's own manual pages"
requires_python
top_src="${abs_top_srcdir:-$srcdir/..}"
top_build="${abs_top_builddir:-$builddir/..}"
nbdattach="$top_build/nbdattach/nbdattach"
[[ -x "$nbdattach" ]] || fail "$nbdattach was not built"

bk --help >"$tmp/blockkit.help"
{ bk --short-options; bk --long-options; } >"$tmp/blockkit.accepted"
"$nbdattach" --help >"$tmp/nbdattach.help"
# nbdattach has no --long-options: its getopt tables are the truth.
"$PYTHON" - "$top_src"/nbdattach/*.c >"$tmp/nbdattach.accepted" <<'EOF'
import re, sys
for path in sys.argv[1:]:
    src = open(path).read()
    m = re.search(r'short_options\[\]\s*=\s*"([^"]*)"', src)
    if m:
        for c in re.sub(r':', '', m.group(1)):
            print('-' + c)
    for name in re.findall(r'\{\s*"([a-z0-9-]+)",\s*(?:no|required|optional)_argument', src):
        print('--' + name)
EOF
[[ -s "$tmp/nbdattach.accepted" ]] || fail "no getopt table found in nbdattach/*.c"

check() {
    local prog="$1" pod="$2"
    "$PYTHON" - "$prog" "$pod" "$tmp/$prog.help" "$tmp/$prog.accepted" <<'EOF'
import re, sys
prog, pod_path, help_path, accepted_path = sys.argv[1:]
OPT = r'(--[a-z][a-z0-9-]*|-[A-Za-z0-9])'

def in_text(text):
    """Options written anywhere in TEXT: a dash word after a blank or
    punctuation, ended by a blank, punctuation or an '='."""
    return set(re.findall(r'(?:^|(?<=[\s,;(\[|]))' + OPT + r'(?=[\s,;=:)\]|]|$)',
                          text, re.M))

def section(pod, name):
    m = re.search(r'^=head1 ' + name + r'\n(.*?)(?=^=head1 |\Z)', pod, re.M | re.S)
    return m.group(1) if m else ''

pod = open(pod_path).read()
helptext = open(help_path).read()
accepted = set(open(accepted_path).read().split())
options = section(pod, 'OPTIONS')
items = set()
for line in options.splitlines():
    if line.startswith('=item'):
        items |= set(re.findall(r'B<' + OPT + r'[=>]', line))
mentioned = set(re.findall(r'B<' + OPT + r'[=>]', options))
in_help = in_text(helptext)

errors = []
for o in sorted(in_help - items):
    errors.append(f'{o}: in --help but has no =item in {pod_path} OPTIONS')
for o in sorted(items - in_help):
    errors.append(f'{o}: an =item in {pod_path} OPTIONS but not in --help')
for o in sorted(in_help - accepted):
    errors.append(f'{o}: in --help but {prog} does not accept it')
for o in sorted(accepted - in_help - mentioned):
    errors.append(f'{o}: accepted by {prog} but in neither --help nor {pod_path} OPTIONS')
synopsis = in_text(section(pod, 'SYNOPSIS'))
if prog == 'blockkit':
    # Each line of --help names one option (in its short and long
    # spellings, or a pair such as -4/-6): the synopsis must show it in
    # one of them.  The information options have synopsis lines of their
    # own or none.
    info = {'-h', '--help', '-V', '--version', '--dump-config',
            '--dump-plugin', '--short-options', '--long-options'}
    for line in helptext.splitlines():
        spellings = in_text(line) - info
        if spellings and not spellings & synopsis:
            errors.append(f'{"/".join(sorted(spellings))}: not in the '
                          f'SYNOPSIS of {pod_path}')
for e in errors:
    print(f'{prog}: {e}')
print(f'{prog}: {len(in_help)} options in --help, {len(items)} in the '
      f'man page\'s items, {len(accepted)} accepted', file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
}

rc=0
check blockkit "$top_src/server/blockkit.pod" || rc=1
check nbdattach "$top_src/nbdattach/nbdattach.pod" || rc=1
[[ $rc == 0 ]] || fail "manual pages and --help disagree (above)"

# blockkit(1)'s SEE ALSO: every page a newcomer may need from there.
see_also="$(sed -n '/^=head1 SEE ALSO/,/^=head1 /p' "$top_src/server/blockkit.pod")"
pages=(nbdattach.8 blockkit-devices.7 blockkit-plugin.3 blockkit-filter.3)
for pod in "$top_src"/plugins/*/blockkit-*-plugin.pod \
           "$top_src"/filters/*/blockkit-*-filter.pod; do
    pages+=("$(basename "$pod" .pod).1")
done
for page in "${pages[@]}"; do
    ref="L<${page%.*}(${page##*.})>"
    grep -qF "$ref" <<<"$see_also" || fail "blockkit(1) SEE ALSO lacks $ref"
done
echo "blockkit(1) SEE ALSO names all ${#pages[@]} pages"

echo "$0: ok"
