#!/usr/bin/env bash
# fio with its nbd engine: random writes verified with crc32c, several jobs
# (connections), then a separate verify-only read pass.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires fio
fio --enghelp=nbd >/dev/null 2>&1 || skip "this fio has no nbd engine"

start_server "$tmp/sock" memory 256M
cd "$tmp"    # fio leaves *-verify.state files in the current directory
uri="$(nbd_uri "$tmp/sock")"
common=(--ioengine=nbd --uri="$uri" --size=32M --bs=4k --iodepth=16
        --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting
        --output-format=json)

# 4 jobs, each its own region (offset_increment) and connection.
timeout 300 fio --name=randwrite --rw=randwrite --numjobs=4 --offset_increment=32M \
    "${common[@]}" --output="$tmp/w.json"
# Verify what was written, in a separate read-only pass.
timeout 300 fio --name=randwrite --rw=randwrite --numjobs=4 --offset_increment=32M \
    "${common[@]}" --verify_only --output="$tmp/v.json"
# Mixed sizes, sequential, in flight.
timeout 300 fio --name=seq --rw=write --bsrange=4k-1M --offset=128M --ioengine=nbd \
    --uri="$uri" --size=64M --iodepth=8 --verify=crc32c --verify_fatal=1 \
    --output-format=json --output="$tmp/s.json"

"$PYTHON" - "$tmp/w.json" "$tmp/v.json" "$tmp/s.json" <<'PYEOF'
import json, sys
for f in sys.argv[1:]:
    j = json.load(open(f))
    for job in j["jobs"]:
        assert job["error"] == 0, (f, job["jobname"], job["error"])
        moved = job["write"]["io_bytes"] + job["read"]["io_bytes"]
        assert moved > 0, (f, "no I/O")
        print(f.split("/")[-1], job["jobname"], "ok, bytes", moved)
PYEOF

# Verification can fail: corrupt one block and verify again.
"$PYTHON" - "$tmp/sock" <<'PYEOF'
import sys, nbd
h = nbd.NBD(); h.connect_unix(sys.argv[1])
for off in range(0, 32 << 20, 1 << 20):
    h.pwrite(b"\xde\xad" * 2048, off)
h.shutdown()
PYEOF
if timeout 300 fio --name=randwrite --rw=randwrite --numjobs=1 "${common[@]}" \
       --verify_only --output="$tmp/bad.json" >/dev/null 2>&1; then
    fail "fio verify did not detect corruption"
fi

echo "$0: ok"
