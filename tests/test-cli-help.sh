#!/usr/bin/env bash
# --help, --version, --dump-config, --dump-plugin and `PLUGIN --help`.
source "${srcdir:-$(dirname "$0")}/functions.sh"

out="$tmp/out"

# --help: usage naming the main options, exit 0.
bk --help >"$out"
for opt in -U -p -s -e -r -f -P -t -v -D --run --exit-with-parent PLUGIN; do
    grep -q -e "$opt" "$out" || fail "--help does not mention $opt"
done

# --version: "NAME X.Y.Z", exit 0.
bk --version >"$out"
grep -Eq '^[a-z]+ [0-9]+\.[0-9]+\.[0-9]+' "$out" ||
    fail "--version printed: $(cat "$out")"
version="$(awk 'NR==1 {print $2}' "$out")"

# --dump-config: key=value lines including version= and plugindir=.
bk --dump-config >"$out"
grep -q "^version=$version\$" "$out" || fail "--dump-config: no version=$version"
grep -q '^plugindir=' "$out" || fail "--dump-config: no plugindir="
grep -q '^version_major=' "$out" || fail "--dump-config: no version_major="
if grep -v -E '^[a-z_0-9]+=' "$out"; then fail "--dump-config: non key=value line"; fi
# binary= is the program that runs (installed, in sbindir, not bindir).
binary="$(sed -n 's/^binary=//p' "$out")"
[[ "$binary" == /* && -x "$binary" ]] ||
    fail "--dump-config: binary=$binary is not the path of an executable"
grep -q '^sbindir=/' "$out" || fail "--dump-config: no sbindir="

# --dump-plugin: the plugin's name, path, API version, thread model and
# which callbacks it has.
for p in memory file null pattern data; do
    bk --dump-plugin "$p" >"$out"
    grep -q "^name=$p\$" "$out" || fail "--dump-plugin $p: no name=$p"
    grep -q '^path=/' "$out" || fail "--dump-plugin $p: no absolute path="
    grep -q '^api_version=2$' "$out" || fail "--dump-plugin $p: no api_version=2"
    grep -Eq '^thread_model=(serialize_connections|serialize_all_requests|serialize_requests|parallel)$' "$out" ||
        fail "--dump-plugin $p: no thread_model="
    grep -q '^has_pread=1$' "$out" || fail "--dump-plugin $p: no has_pread=1"
done
bk --dump-plugin memory >"$out"
grep -q '^thread_model=parallel$' "$out" || fail "memory should be parallel"
for cb in pwrite trim zero extents flush; do
    grep -q "^has_$cb=1\$" "$out" || fail "memory: no has_$cb=1"
done

# PLUGIN --help: the plugin's own keys.
bk memory --help >"$out"
grep -q 'size=' "$out" || fail "memory --help does not describe size="
bk file --help >"$out"
grep -q 'file=' "$out" || fail "file --help does not describe file="
grep -q 'dir=' "$out" || fail "file --help does not describe dir="
bk data --help >"$out"
grep -Eq 'data[=|]' "$out" || fail "data --help does not describe data="

echo "$0: ok"
