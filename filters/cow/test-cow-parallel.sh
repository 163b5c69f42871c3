#!/usr/bin/env bash
# Many requests at once through cow: fio writes random-sized data (most of
# it partial overlay blocks, so read-modify-write) from four connections
# at depth 16 over a read-only file and verifies it (crc32c), then
# verifies again on new connections; the file is unchanged.
source "$abs_top_srcdir/tests/functions.sh"
requires fio
fio --enghelp=nbd >/dev/null 2>&1 || skip "this fio has no nbd engine"

export TMPDIR="$tmp"
img="$tmp/base.img"
"$PYTHON" -c '
import sys
open(sys.argv[1], "wb").write(bytes(range(256)) * (64 * 4096))' "$img"
chmod a-w "$img"
sum_before="$(md5 "$img")"
cd "$tmp"    # fio leaves *-verify.state files in the current directory

start_server "$tmp/sock" --filter=cow file "$img"
common=(--ioengine=nbd --uri="$(nbd_uri "$tmp/sock")" --size=16M
        --bsrange=512-96k --iodepth=16 --numjobs=4 --offset_increment=16M
        --verify=crc32c --verify_fatal=1 --group_reporting
        --output-format=json)
timeout 300 fio --name=w --rw=randwrite --do_verify=1 "${common[@]}" \
    --output="$tmp/w.json"
timeout 300 fio --name=w --rw=randwrite --verify_only "${common[@]}" \
    --output="$tmp/v.json"
"$PYTHON" - "$tmp/w.json" "$tmp/v.json" <<'PYEOF'
import json, sys
for f in sys.argv[1:]:
    for job in json.load(open(f))["jobs"]:
        assert job["error"] == 0, (f, job["error"])
        assert job["write"]["io_bytes"] + job["read"]["io_bytes"] > 0, f
        print(f.split("/")[-1], "ok")
PYEOF
server_alive "$server_pid"
[[ "$(md5 "$img")" == "$sum_before" ]] || fail "the file below was changed"
echo OK
