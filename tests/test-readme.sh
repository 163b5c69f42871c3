#!/usr/bin/env bash
# README.md's "Running" examples work as written: every command line in
# that section's code blocks is run, in a scratch directory holding the
# files the examples name (disk.img with two partitions, base.img,
# images/, mydisk.sh, TLS certificates), except those that need a kernel
# nbd device (nbdattach: tests/vm/) or a server that is not there
# (example.com, a Ceph cluster), which are listed as not run.
#
# What is changed before running, and only this: port 10809 becomes a
# free port (tests run in parallel), /tmp/ and /etc/blockkit/ become
# directories of this test, and a server started in the background gets
# -P PIDFILE so that the test can stop it.  A server line without --run
# is followed by the client lines after it in the same block, or checked
# with nbdinfo when there are none.
#
# And ./quickstart installs what the examples run: the Debian package of
# every client the section uses is in quickstart's package list.
source "${srcdir:-$(dirname "$0")}/functions.sh"

is_blockkit || skip "README.md documents blockkit"
top_src="${abs_top_srcdir:-$srcdir/..}"
readme="$top_src/README.md"
requires_nbdsh
for t in nbdinfo nbdcopy qemu-img qemu-io hexdump sfdisk certtool; do
    requires "$t"
done

# ---- the examples ----
"$PYTHON" - "$readme" >"$tmp/examples" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r'^## Running\n(.*?)(?=^## )', text, re.M | re.S)
if not m:
    sys.exit("README.md has no '## Running' section")
block, in_block = 0, False
for line in m.group(1).splitlines():
    if line.startswith('    ') and line.strip():
        if not in_block:
            block, in_block = block + 1, True
        print(f'{block}\t{line[4:]}')
    elif line.strip():
        in_block = False
EOF
[[ -s "$tmp/examples" ]] || fail "no examples found in README.md's Running"

# ---- quickstart installs the clients the examples use ----
if command -v dpkg >/dev/null; then
    quickstart_pkgs="$(sed -n '/^install_packages /,/[^\\]$/p' "$top_src/quickstart")"
    for t in nbdinfo nbdcopy nbdsh qemu-img qemu-io hexdump; do
        grep -qw -- "$t" "$tmp/examples" || continue
        pkg="$(dpkg -S "$(readlink -f "$(type -P "$t")")" 2>/dev/null | sed 's/:.*//')"
        [[ -n "$pkg" ]] || pkg="$(dpkg -S "$(type -P "$t")" | sed 's/:.*//')"
        grep -qw -- "$pkg" <<<"$quickstart_pkgs" ||
            fail "README's examples use $t (package $pkg), which ./quickstart does not install"
        grep -qw -- "$pkg" "$readme" || fail "README.md does not name the package of $t ($pkg)"
        echo "$t: package $pkg, installed by quickstart"
    done
else
    echo "no dpkg: not checking quickstart's package list"
fi

# ---- the files the examples name ----
w="$tmp/w"
mkdir -p "$w/images" "$tmp/bin" "$tmp/etc/blockkit"
cd "$w"
truncate -s 64M disk.img
printf 'label: dos\n1MiB 16MiB L\n17MiB 32MiB L\n' | sfdisk -q disk.img
truncate -s 16M base.img images/a.img images/b.img
cat >mydisk.sh <<'EOF'
#!/bin/sh
# A 1 MiB disk of zeroes, for README.md's sh plugin example.
case "$1" in
    get_size) echo 1048576 ;;
    pread) head -c "$3" /dev/zero ;;
    *) exit 2 ;;
esac
EOF
chmod +x mydisk.sh
bash "$top_src/tests/make-tls-certs.sh" "$tmp/etc/blockkit/tls"
ln -s tls "$tmp/etc/blockkit/client-tls"
# "blockkit" in the examples is the one under test.
printf '#!/bin/sh\nexec "%s" "$@"\n' "$BLOCKKIT" >"$tmp/bin/blockkit"
chmod +x "$tmp/bin/blockkit"
export PATH="$tmp/bin:$PATH"
port="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

rewrite() {
    local l="$1"
    l="${l//10809/$port}"
    l="${l//\/tmp\//$tmp/}"     # first: $tmp itself may be in /tmp/
    l="${l//\/etc\/blockkit\//$tmp/etc/blockkit/}"
    printf '%s' "$l"
}

ran=0 not_run=0 n=0
server_pid="" server_uri="" server_clients=0
run_line() {    # run_line WHAT LINE: LINE must succeed
    echo "--- $1: $2"
    timeout -k 5 60 bash -c "$2" </dev/null ||
        fail "README.md example failed (exit status $?): $2"
}
end_server() {
    [[ -n "$server_pid" ]] || return 0
    if [[ $server_clients == 0 ]]; then
        run_line "check the server" "nbdinfo '$server_uri'"
    fi
    kill "$server_pid" 2>/dev/null || :
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    server_pid=""
}

prev_block=0
while IFS=$'\t' read -r block line; do
    n=$((n + 1))
    [[ $block == "$prev_block" ]] || end_server
    prev_block=$block
    cmd="$(rewrite "$line")"
    case "$line" in
        *nbdattach*|*mkfs*|*mount\ *)
            echo "--- not run (needs a kernel nbd device, tests/vm/): $line"
            not_run=$((not_run + 1)); continue ;;
        *example.com*|*" rbd "*)
            echo "--- not run (needs a remote server): $line"
            not_run=$((not_run + 1)); continue ;;
    esac
    so="$(grep -o '/usr/lib/[^ ]*\.so' <<<"$line" || true)"
    if [[ -n "$so" && -n "${ASAN_OPTIONS:-}" ]]; then
        # .ci/sanitize: nbdkit's uninstrumented plugins leak in their
        # constructors (see test-debian-plugins.sh there).
        echo "--- not run (an nbdkit plugin in a sanitizer build): $line"
        not_run=$((not_run + 1)); continue
    fi
    if [[ -n "$so" && ! -e "$so" ]]; then
        [[ "${CI:-}" != true ]] || fail "$so is missing (the nbdkit package)"
        echo "--- not run ($so is not installed): $line"
        not_run=$((not_run + 1)); continue
    fi
    ran=$((ran + 1))
    if [[ "$line" == blockkit\ * ]]; then
        end_server
        if [[ "$line" == *--run* ]]; then
            run_line "run" "$cmd"
            continue
        fi
        # A server: it goes into the background once it is listening.
        pidfile="$tmp/server-$n.pid"
        run_line "start" "blockkit -P '$pidfile' ${cmd#blockkit }"
        server_pid="$(cat "$pidfile")"
        _cleanup_pids+=("$server_pid")
        server_clients=0
        if [[ "$cmd" =~ -U\ ([^ ]+) ]]; then
            server_uri="nbd+unix:///?socket=${BASH_REMATCH[1]}"
        elif [[ "$cmd" =~ -p\ ([0-9]+) ]]; then
            server_uri="nbd://localhost:${BASH_REMATCH[1]}"
        else
            fail "cannot tell where this server listens: $line"
        fi
        continue
    fi
    # A client: of the server above in this block, or on its own.
    [[ -z "$server_pid" ]] || server_clients=$((server_clients + 1))
    run_line "client" "$cmd"
done <"$tmp/examples"
end_server

echo "$ran of the $n example lines run, $not_run not run (above)"
(( ran >= 12 )) || fail "only $ran examples ran: has README.md's Running section lost its examples?"
echo "$0: ok"
