#!/usr/bin/env bash
# nbdattach's configuration files against hostile input: real files run
# through the real nbdattach binary with --check-config, which parses and
# validates a file (and hands its keys to the chain) without touching
# the kernel, so this needs neither root nor /dev/nbd.  A bad file must
# fail with the file and line, its text escaped and cut short; a NUL
# byte, a huge value or a 100,000-line file must neither slip through
# nor take long.  See nbdattach(8), "CONFIGURATION FILES".
source "${abs_top_srcdir:-$srcdir/..}/tests/functions.sh"

is_blockkit || skip "nbdattach is blockkit's own"
top_build="${abs_top_builddir:-$builddir/..}"
NA="$top_build/nbdattach/nbdattach"
[[ -x "$NA" ]] || fail "nbdattach not built"
export BLOCKKIT_PLUGIN_PATH="$top_build/plugins"
export BLOCKKIT_FILTER_PATH="$top_build/filters"
cd "$tmp"

# run FILE [ARGS...]: nbdattach --check-config ./FILE, output in out/err.
run() {
    local f="$1"; shift
    rc=0
    timeout 60 "$NA" --check-config "./$f" "$@" >out 2>err </dev/null || rc=$?
    if [[ $rc -eq 124 || $rc -gt 128 ]]; then
        cat err >&2; fail "$f: hung or crashed (exit $rc)"
    fi
}

# bad FILE PATTERN: rejected, with a message matching PATTERN (ERE); the
# message is short and has no raw control character.
bad() {
    local f="$1" pattern="$2"
    run "$f"
    [[ $rc -ne 0 ]] || fail "$f: accepted: $(cat out)"
    grep -Eq -- "$pattern" err || { cat err >&2; fail "$f: message not /$pattern/"; }
    (( $(wc -c <err) < 1024 )) || fail "$f: $(wc -c <err) bytes of messages"
    if LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n' <err); then
        fail "$f: raw control characters in the message: $(od -c err | head)"
    fi
    echo "ok: $f -> $(head -1 err)"
}

# good FILE [ARGS...]: accepted; the command line it stands for is in out.
good() {
    local f="$1"; shift
    run "$f" "$@"
    [[ $rc -eq 0 ]] || { cat err >&2; fail "$f: rejected"; }
    echo "ok: $f -> $(cat out)"
}

# A valid file, with every option of nbdattach's own.
cat >valid.conf <<'EOF'
# a RAM disk
plugin = memory
size = 1M
connections = 1
block-size = 4096
readonly = yes
timeout = 30
dead-timeout = 120
name = demo-disk
exportname = exp
EOF
good valid.conf
grep -q -- '-b 4096 --timeout 30 --dead-timeout 120 -r -n demo-disk -e exp memory size=1M$' out ||
    fail "valid.conf: unexpected command line"
# The command line still wins over the file.
good valid.conf -b 512 -n other
grep -q -- '-b 512 .*-n other' out || fail "command line did not win"

# The comment rule: '#' after white space (or starting the line) starts
# a comment; right after other text it is part of the value.
printf 'plugin = memory\nsize = 1M  # one MiB\n   # indented\nname = a#b\n' >comment.conf
good comment.conf
grep -q -- "-n 'a#b' memory size=1M$" out || fail "comment rule: $(cat out)"
printf 'plugin = memory\nsize = 1M#junk\n' >comment2.conf
bad comment2.conf 'comment2\.conf:2: this is the line'
grep -q 'size=1M#junk' err || fail "comment2.conf: the value was not 1M#junk"

# A NUL byte ends nothing silently.
printf 'plugin = memory\nsize = 1M\0junk\n' >nul.conf
bad nul.conf 'nul\.conf:2: NUL byte'

# A 1 MB line, a 5000-character name, and the same on the command line.
{ printf 'plugin = memory\nsize = 1M\nname = '; head -c 1000000 /dev/zero | tr '\0' a; echo; } >hugeline.conf
bad hugeline.conf 'hugeline\.conf:3: line longer than 64 KiB'
{ printf 'plugin = memory\nsize = 1M\nname = '; head -c 5000 /dev/zero | tr '\0' a; echo; } >longname.conf
bad longname.conf 'longname\.conf:3: name must be 1 to 200 characters, not "a{60}"\.\.\.$'
rc=0
"$NA" -n "$(head -c 5000 /dev/zero | tr '\0' a)" memory 1M 2>err || rc=$?
[[ $rc -ne 0 ]] && grep -q -- '--name: name must be 1 to 200' err ||
    fail "--name of 5000 characters: $(cat err)"
# Any name without control characters: udev links only the safe ones.
printf 'plugin = memory\nsize = 1M\nname = two words\n' >words.conf
good words.conf
grep -q -- "-n 'two words' memory" out || fail "name = two words: $(cat out)"
rc=0
"$NA" -n "$(printf 'a\033b')" memory 1M 2>err || rc=$?
[[ $rc -ne 0 ]] && grep -q -- '--name: name must not contain control characters, not "a\\x1bb"' err ||
    fail "--name with ESC: $(cat -v err)"
# Every option goes through the same check from a file as from argv.
printf 'plugin = memory\nconnections = 65\n' >conn.conf
bad conn.conf 'conn\.conf:2: connections must be a number from 1 to 64, not "65"'
printf 'plugin = memory\nblock-size = 1000\n' >bs.conf
bad bs.conf 'bs\.conf:2: block-size must be 512'
printf 'plugin = memory\ntimeout = -1\n' >to.conf
bad to.conf 'to\.conf:2: a timeout must be'
printf 'plugin = memory\nreadonly = maybe\n' >ro.conf
bad ro.conf 'ro\.conf:2: expected a boolean'
printf 'plugin = memory\ndevice = /dev/sda\n' >dev.conf
bad dev.conf 'dev\.conf:2: device must be'
printf 'plugin = memory\nsize = 1M\ntransport = ublk\ndevice = /dev/ublkb7\n' >ublk.conf
good ublk.conf
grep -q -- ' --transport=ublk' out || fail "ublk.conf: no --transport=ublk in: $(cat out)"
grep -q -- ' -d 7' out || fail "ublk.conf: no -d 7 in: $(cat out)"
printf 'plugin = memory\ntransport = sctp\n' >tr.conf
bad tr.conf 'tr\.conf:2: transport must be nbd or ublk, not "sctp"'

# Escape sequences are shown escaped.
printf 'plugin = memory\nsize = 1M\nfoo = \033[2J\033]0;owned\007\n' >esc.conf
bad esc.conf 'esc\.conf:3: control character \\x1b in "foo = \\x1b\[2J'

# Keys: syntax errors are nbdattach's, with file:line; a key the plugin
# does not know is the plugin's, followed by the file:line it came from.
printf 'plugin = memory\nsize = 1M\nbad key = 1\n' >key1.conf
bad key1.conf 'key1\.conf:3: invalid key "bad key"'
printf 'plugin = memory\nsize = 1M\n = 1\n' >key2.conf
bad key2.conf 'key2\.conf:3: missing key'
printf 'plugin = memory\nsize = 1M\nchain. = 1\n' >key3.conf
bad key3.conf 'key3\.conf:3: missing key after "chain\."'
printf 'plugin = memory\nsize = 1M\nnonsense\n' >key4.conf
bad key4.conf 'key4\.conf:3: expected "key = value", got "nonsense"'
printf 'plugin = memory\nsize = 1M\n\nno-such-key = 1\n' >key5.conf
bad key5.conf 'key5\.conf:4: this is the line'
printf 'plugin = memory\n' >nosize.conf
bad nosize.conf 'nosize\.conf: the chain.s settings'

# 100,000 lines of chain keys: linear time (a generous bound).
{ echo 'plugin = memory'
  awk 'BEGIN { for (i = 0; i < 100000; i++) print "size = " i + 1 "K" }'; } >long.conf
start=$SECONDS
good long.conf >/dev/null
(( SECONDS - start < 10 )) || fail "100,000 lines took $((SECONDS - start)) s"
echo "ok: 100,000 lines in $((SECONDS - start)) s"

# A file too large is refused without reading it all.
rc=0
timeout 60 "$NA" --check-config /dev/zero 2>err || rc=$?
[[ $rc -eq 1 ]] && grep -q 'larger than 16 MiB' err || fail "/dev/zero: $(cat err)"

# A relative path names the file in messages as an absolute one.
grep -q "^nbdattach: $(pwd -P)/nul.conf:2:" <(run nul.conf; cat err) ||
    fail "relative --config path not made absolute"

echo "$0: ok"
