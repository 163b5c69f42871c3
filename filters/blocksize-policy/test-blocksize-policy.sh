#!/usr/bin/env bash
# blocksize-policy: the advertised values are what nbdinfo shows; with
# blocksize-error-policy=error requests breaking them get EINVAL and
# change nothing, with allow they go through.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires nbdinfo

# Advertised values, over a plugin with no constraints of its own.
nbdinfo_json() {
    bk -U - --filter=blocksize-policy memory size=16M "$@" \
       --run 'nbdinfo --json "$uri"'
}
nbdinfo_json blocksize-minimum=512 blocksize-preferred=64K \
             blocksize-maximum=1M >"$tmp/json"
cat "$tmp/json"
"$PYTHON" - "$tmp/json" <<'PYEOF'
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
got = (e["block_size_minimum"], e["block_size_preferred"], e["block_size_maximum"])
assert got == (512, 65536, 1048576), got
PYEOF
# Only the minimum given: the preferred size follows it up.
nbdinfo_json blocksize-minimum=16K >"$tmp/json"
"$PYTHON" - "$tmp/json" <<'PYEOF'
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
assert e["block_size_minimum"] == 16384 and e["block_size_preferred"] == 16384, e
PYEOF

# The error policy, straight at the client: misaligned or oversized
# requests get EINVAL and the data is unchanged.
start_server "$tmp/sock" --filter=blocksize-policy memory size=16M \
             blocksize-minimum=512 blocksize-maximum=1M \
             blocksize-error-policy=error
export uri="$(nbd_uri "$tmp/sock")"
nbdpy <<'PYEOF'
import os, nbd
M = 1 << 20
h = nbd.NBD()
h.connect_uri(os.environ["uri"])
h.set_strict_mode(0)            # send what the constraints forbid
h.pwrite(b"\x55" * 4096, 0)

def einval(what, op):
    try:
        op()
    except nbd.Error as e:
        assert e.errno == "EINVAL", "%s: %s" % (what, e)
        return
    raise AssertionError("%s succeeded" % what)

einval("misaligned write", lambda: h.pwrite(b"x", 100))
einval("misaligned length", lambda: h.pwrite(b"x" * 1000, 512))
einval("misaligned read", lambda: h.pread(512, 1))
einval("misaligned zero", lambda: h.zero(512, 10))
einval("misaligned trim", lambda: h.trim(100, 512))
einval("oversized read", lambda: h.pread(2 * M, 0))
einval("oversized write", lambda: h.pwrite(b"y" * (2 * M), 0))
assert h.pread(4096, 0) == b"\x55" * 4096, "a refused request changed data"
# Aligned requests work; zero and trim may exceed the payload maximum.
h.pwrite(b"\x66" * 1024, 512)
h.zero(4 * M, 4 * M)
h.trim(4 * M, 8 * M)
assert h.pread(2048, 0) == b"\x55" * 512 + b"\x66" * 1024 + b"\x55" * 512
h.shutdown()
PYEOF
stop_server "$server_pid"

# Below a shift: offset=512 turns the client's 4K-aligned requests into
# misaligned ones at the policy layer.  error refuses them before they
# reach the plugin, allow passes them.
for policy in error allow; do
    bk -U - --filter=offset --filter=blocksize-policy memory size=1M \
       offset=512 blocksize-minimum=4096 blocksize-error-policy=$policy \
       --run 'nbdsh -u "$uri" -c "
import os
policy = \"'$policy'\"
assert h.get_block_size(nbd.SIZE_MINIMUM) == 4096
try:
    h.pwrite(b\"\\x77\" * 4096, 4096)
    assert policy == \"allow\", \"shifted write accepted with error policy\"
    assert h.pread(4096, 4096) == b\"\\x77\" * 4096
except nbd.Error as e:
    assert policy == \"error\" and e.errno == \"EINVAL\", e
"' || fail "policy $policy below offset"
done

# Bad values are refused at startup.
for arg in blocksize-minimum=3 blocksize-minimum=128K blocksize-preferred=256 \
           blocksize-preferred=3000 blocksize-maximum=100 \
           blocksize-error-policy=maybe blocksize-maximum=lots; do
    if bk -U - --filter=blocksize-policy memory size=1M $arg --run true \
          >"$tmp/out" 2>&1; then
        fail "$arg accepted"
    fi
    grep -q "${arg%%=*}\|could not parse" "$tmp/out" ||
        { cat "$tmp/out"; fail "no clear error for $arg"; }
done
echo "$0: ok"
