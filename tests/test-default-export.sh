#!/usr/bin/env bash
# .default_export is asked once per connection and the answer kept, as
# the established server does: a client that lists the exports, asks for
# INFO on the default export and then connects to it causes one call, and
# every step sees the same name.  Driven through Debian's eval plugin
# binary, whose default_export script counts its calls in a file.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
eval_plugin=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-eval-plugin.so
[[ -f "$eval_plugin" ]] || skip "Debian's nbdkit eval plugin is not installed"

calls="$tmp/calls"
start_server "$tmp/sock" "$eval_plugin" \
    get_size='echo 1M' \
    pread='dd if=/dev/zero count=$3 iflag=count_bytes status=none' \
    default_export="echo call >>'$calls'; echo the-default"

nbdsh -c "
h.set_opt_mode(True)
h.connect_uri('$(nbd_uri "$tmp/sock")')
names = []
h.opt_list(lambda name, desc: names.append(name))
assert names == ['the-default'], names
h.set_full_info(True)
h.opt_info()
assert h.get_canonical_export_name() == 'the-default', h.get_canonical_export_name()
h.opt_go()
assert h.get_size() == 1024 * 1024
h.shutdown()
"
n=$(wc -l <"$calls")
[[ "$n" -eq 1 ]] || fail ".default_export called $n times in one connection (expected 1)"

# A second connection asks again (the answer may differ per client).
nbdsh -u "$(nbd_uri "$tmp/sock")" -c 'assert h.get_size() == 1024 * 1024'
n=$(wc -l <"$calls")
[[ "$n" -eq 2 ]] || fail "second connection: $n calls in all (expected 2)"
echo PASS
