#!/usr/bin/env bash
# Bad command lines fail quickly, with a clear message and a non-zero exit.
source "${srcdir:-$(dirname "$0")}/functions.sh"

# check_bad PATTERN ARGS...: the server must exit non-zero without starting,
# printing something matching PATTERN (extended regex, case-insensitive).
check_bad() {
    local pattern="$1"; shift
    local rc=0
    timeout 30 "$BLOCKKIT" "$@" >"$tmp/out" 2>&1 </dev/null || rc=$?
    if [[ $rc -eq 0 ]]; then fail "succeeded but should fail: $*"; fi
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then fail "hung: $*"; fi
    if [[ $rc -gt 128 ]]; then fail "crashed with signal $((rc-128)): $*"; fi
    if ! grep -Eiq -- "$pattern" "$tmp/out"; then
        cat "$tmp/out" >&2
        fail "message for '$*' does not match /$pattern/"
    fi
    if [[ -e "$tmp/sock" ]]; then fail "left a socket behind: $*"; fi
    echo "ok (exit $rc): $* -> $(head -1 "$tmp/out")"
}

check_bad 'unrecognized|unknown|invalid' -U "$tmp/sock" --no-such-option memory 1M
check_bad 'nosuchplugin' -U "$tmp/sock" nosuchplugin
check_bad 'cannot open|no such|not found' -U "$tmp/sock" ./no/such/path/plugin.so
check_bad 'size' -U "$tmp/sock" memory
check_bad 'size|parse|invalid' -U "$tmp/sock" memory size=foo
check_bad 'size|parse|invalid' -U "$tmp/sock" memory size=-1
check_bad 'file|dir' -U "$tmp/sock" file
check_bad 'file|dir|no such|not found|cannot|could not' -U "$tmp/sock" file file="$tmp/does-not-exist"
check_bad 'unknown|foo|parameter' -U "$tmp/sock" memory size=1M foo=bar
check_bad 'threads|-t|invalid|parse' -U "$tmp/sock" -t notanumber memory 1M
check_bad 'plugin|usage|help' -U "$tmp/sock" -f
check_bad 'port|parse|invalid|-p' -p notaport memory 1M
check_bad 'data|size|required|must' -U "$tmp/sock" data

echo "$0: ok"
