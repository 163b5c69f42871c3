#!/usr/bin/env bash
# nbdinfo: --json, --size, --can/--is, --map, --list against the memory plugin.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires nbdinfo

start_server "$tmp/sock" memory 1G
uri="$(nbd_uri "$tmp/sock")"

# --size
[[ "$(nbdinfo --size "$uri")" == 1073741824 ]] || fail "--size"

# --json: parse it and check the fields a client relies on.
nbdinfo --json "$uri" >"$tmp/info.json"
"$PYTHON" - "$tmp/info.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["protocol"] == "newstyle-fixed", j["protocol"]
assert j["structured"] is True
assert j["TLS"] is False
e = j["exports"]
assert len(e) == 1, e
e = e[0]
assert e["export-name"] == ""
assert e["export-size"] == 1 << 30
assert "base:allocation" in e["contexts"], e["contexts"]
for k in ("can_flush", "can_fua", "can_trim", "can_zero", "can_fast_zero",
          "can_cache", "can_df", "can_multi_conn"):
    assert e[k] is True, (k, e[k])
assert e["is_read_only"] is False
assert e["is_rotational"] is False
print("json ok")
PYEOF

# --can / --is: exit 0 for yes, 2 for no.
for c in connect read write flush fua trim zero fast-zero cache df multi-conn structured-reply; do
    nbdinfo --can "$c" "$uri" || fail "--can $c"
done
rc=0; nbdinfo --is read-only "$uri" || rc=$?
[[ $rc -eq 2 ]] || fail "--is read-only gave $rc, want 2"
rc=0; nbdinfo --is rotational "$uri" || rc=$?
[[ $rc -eq 2 ]] || fail "--is rotational gave $rc, want 2"

# --map: an empty memory disk is one hole.
nbdinfo --map "$uri" >"$tmp/map"
cat "$tmp/map"
[[ "$(awk '{print $1, $2, $3}' "$tmp/map")" == "0 1073741824 3" ]] || fail "empty map"

# --list: the default export is listed.
nbdinfo --list --json "$uri" >"$tmp/list.json"
"$PYTHON" -c '
import json, sys
j = json.load(open(sys.argv[1]))
names = [e["export-name"] for e in j["exports"]]
assert names == [""], names
assert j["exports"][0]["export-size"] == 1 << 30
' "$tmp/list.json"

# Read-only server: flags say so.
start_server "$tmp/ro.sock" -r memory 1M
rouri="$(nbd_uri "$tmp/ro.sock")"
nbdinfo --is read-only "$rouri" || fail "-r: --is read-only"
for c in write trim zero fast-zero; do
    rc=0; nbdinfo --can "$c" "$rouri" || rc=$?
    [[ $rc -eq 2 ]] || fail "-r: --can $c gave $rc, want 2"
done
nbdinfo --can read "$rouri" || fail "-r: --can read"

echo "$0: ok"
