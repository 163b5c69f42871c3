#!/usr/bin/env bash
# Export names: file dir= lists its files (NBD_OPT_LIST, nbdinfo --list),
# NBD_OPT_INFO and NBD_OPT_GO pick an export by name, unknown names are
# refused, and -e sets the name --run advertises.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo

mkdir "$tmp/dir" "$tmp/dir/subdir"
truncate -s 1M "$tmp/dir/a.img"
truncate -s 2M "$tmp/dir/b.img"
printf 'bbbb' | dd of="$tmp/dir/b.img" conv=notrunc status=none
truncate -s 3M "$tmp/dir/subdir/c.img"     # not in the listing

start_server "$tmp/sock" file dir="$tmp/dir"
export sock="$tmp/sock"

nbdinfo --list --json "$(nbd_uri "$sock")" >"$tmp/list.json"
"$PYTHON" - "$tmp/list.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
names = sorted(e["export-name"] for e in j["exports"])
assert names == ["a.img", "b.img"], names
sizes = {e["export-name"]: e["export-size"] for e in j["exports"]}
assert sizes == {"a.img": 1 << 20, "b.img": 2 << 20}, sizes
PYEOF

[[ "$(nbdinfo --size "$(nbd_uri "$sock" b.img)")" == 2097152 ]] || fail "b.img size"

nbdpy <<'PYEOF'
import os, nbd
sock = os.environ["sock"]

# NBD_OPT_LIST, NBD_OPT_INFO, NBD_OPT_GO in option mode.
h = nbd.NBD()
h.set_opt_mode(True)
h.connect_unix(sock)
names = []
n = h.opt_list(lambda name, desc: names.append(name))
assert sorted(names) == ["a.img", "b.img"], names
assert n == 2
h.set_export_name("a.img")
h.opt_info()
assert h.get_size() == 1 << 20
h.set_export_name("b.img")
h.opt_info()
assert h.get_size() == 2 << 20
h.set_export_name("nosuch.img")
try:
    h.opt_info()
    assert False, "INFO on a missing export succeeded"
except nbd.Error:
    pass
# The connection survives a failed INFO; then GO to b.img.
h.set_export_name("b.img")
h.opt_go()
assert h.get_size() == 2 << 20
assert h.pread(4, 0) == b"bbbb"
h.shutdown()

# GO on a missing export fails cleanly.
h = nbd.NBD()
h.set_export_name("nosuch.img")
try:
    h.connect_unix(sock)
    assert False, "connected to a missing export"
except nbd.Error:
    pass

# A name that escapes the directory is refused.
for bad in ("../dir/a.img", "subdir/c.img", "/etc/passwd"):
    h = nbd.NBD()
    h.set_export_name(bad)
    try:
        h.connect_unix(sock)
        assert False, "connected to export %r" % bad
    except nbd.Error:
        pass

# NBD_OPT_ABORT ends option haggling politely.
h = nbd.NBD()
h.set_opt_mode(True)
h.connect_unix(sock)
h.opt_abort()
assert h.aio_is_closed()
print("exports ok")
PYEOF

# The memory plugin has one export, the default ""; INFO reports its size.
start_server "$tmp/mem.sock" memory 7M
export sock="$tmp/mem.sock"
nbdpy <<'PYEOF'
import os, nbd
h = nbd.NBD()
h.set_opt_mode(True)
h.connect_unix(os.environ["sock"])
names = []
h.opt_list(lambda name, desc: names.append(name))
assert names == [""], names
h.opt_info()
assert h.get_size() == 7 << 20
h.opt_go()
assert h.get_size() == 7 << 20
h.shutdown()
PYEOF

echo "$0: ok"
