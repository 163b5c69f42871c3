#!/usr/bin/env bash
# Many requests at once through a small writeback cache (constant
# eviction): fio writes random-sized, unaligned-to-blocks data from four
# connections at depth 16 and verifies it (crc32c); then, with the cache
# gone (a server without the filter), the file itself verifies: evicted
# and flushed dirty blocks all reached it.
source "$abs_top_srcdir/tests/functions.sh"
requires fio
fio --enghelp=nbd >/dev/null 2>&1 || skip "this fio has no nbd engine"

export TMPDIR="$tmp"
img="$tmp/disk.img"
truncate -s 64M "$img"
cd "$tmp"    # fio leaves *-verify.state files in the current directory

start_server "$tmp/sock" --filter=cache file "$img" cache-max-size=2M
common=(--ioengine=nbd --uri="$(nbd_uri "$tmp/sock")" --size=16M
        --bsrange=512-96k --iodepth=16 --numjobs=4 --offset_increment=16M
        --verify=crc32c --verify_fatal=1 --group_reporting
        --output-format=json)
timeout 300 fio --name=w --rw=randwrite --do_verify=1 --end_fsync=1 \
    "${common[@]}" --output="$tmp/w.json"
stop_server "$server_pid"

# The data is in the file: verify it without the cache.
start_server "$tmp/sock2" file "$img"
common[1]=--uri="$(nbd_uri "$tmp/sock2")"
timeout 300 fio --name=w --rw=randwrite --verify_only \
    "${common[@]}" --output="$tmp/v.json"

"$PYTHON" - "$tmp/w.json" "$tmp/v.json" <<'PYEOF'
import json, sys
for f in sys.argv[1:]:
    for job in json.load(open(f))["jobs"]:
        assert job["error"] == 0, (f, job["error"])
        moved = job["write"]["io_bytes"] + job["read"]["io_bytes"]
        assert moved > 0, (f, "no I/O")
        print(f.split("/")[-1], "ok, bytes", moved)
PYEOF
echo OK
