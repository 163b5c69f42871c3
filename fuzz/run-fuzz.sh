#!/usr/bin/env bash
# blockkit: runs one fuzz target for `make check` (fuzz/Makefile.am's
# LOG_COMPILER): first over every input of its seed corpus in
# $srcdir/corpus/NAME (the regressions are there too), then fuzzing from
# a copy of that corpus for $FUZZ_SECONDS (default 30).  Any crash, hang
# (an input taking more than 10 s), leak, out-of-memory or sanitizer
# report fails the test; the input that caused it is kept in
# fuzz/artifacts/ and printed in base64.
#
# Without a target (fuzz/Makefile.am's TESTS when configure found no
# clang with libFuzzer) it says why and skips, which in CI is a failure.
set -euo pipefail

source "${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/functions.sh"

if [[ $# -eq 0 ]]; then
    skip "no fuzz targets were built: configure found no clang that links" \
         "-fsanitize=fuzzer,address,undefined (Debian: clang libclang-rt-14-dev)"
fi

target="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
name="$(basename "$1")"
name="${name#fuzz-}"
corpus="$srcdir/corpus/$name"
seconds="${FUZZ_SECONDS:-30}"
artifacts="$builddir/artifacts"
[[ -d "$corpus" ]] || fail "no seed corpus $corpus"
mkdir -p "$artifacts"

# Every report aborts, leaks included; stderr carries the server's own
# messages, which libFuzzer's -close_fd_mask=2 silences (reports still go
# to the log).
export ASAN_OPTIONS="abort_on_error=1:halt_on_error=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
common=(-timeout=10 -rss_limit_mb=2048 -close_fd_mask=2
        -artifact_prefix="$artifacts/$name-")

report() {
    local f
    for f in "$artifacts/$name-"*; do
        [[ -f "$f" ]] || continue
        echo "$0: the input that failed: $f"
        echo "  base64: $(base64 -w0 < "$f")"
    done
}

echo "== $name: the seed corpus ($(ls "$corpus" | wc -l) inputs)"
if ! "$target" "${common[@]}" -runs=0 "$corpus" </dev/null; then
    report
    fail "$name: an input of the seed corpus fails"
fi

echo "== $name: fuzzing for $seconds s"
mkdir "$tmp/corpus"
cp "$corpus"/* "$tmp/corpus/"
if ! "$target" "${common[@]}" -max_total_time="$seconds" \
        -print_final_stats=1 "$tmp/corpus" </dev/null; then
    report
    fail "$name: fuzzing found a crash, hang, leak or sanitizer report"
fi
echo "$name: PASS"
