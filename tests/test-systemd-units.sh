#!/usr/bin/env bash
# `systemd-analyze verify` on every unit blockkit ships (systemd/): the
# template nbdattach@.service, as the instance nbdattach@demo.service
# (a template cannot be verified by itself), and the example mount unit.
# The units are verified in a temporary root (--root), so the host's own
# units and installed programs play no part: the root holds the built
# nbdattach at the path the unit names ($sbindir).  Any message from
# verify (an unknown key, a bad value, a missing program) fails the test.
source "${abs_top_srcdir:-$srcdir/..}/tests/functions.sh"

requires systemd-analyze
top_src="${abs_top_srcdir:-$srcdir/..}"
top_build="${abs_top_builddir:-$builddir/..}"
unit="$top_build/systemd/nbdattach@.service"
[[ -f "$unit" ]] || fail "$unit not built"
[[ -x "$top_build/nbdattach/nbdattach" ]] || fail "nbdattach not built"

# The generated unit has no @...@ left and runs nbdattach -f --config.
if grep -n '@[a-z]*@' "$unit"; then fail "unsubstituted variables in $unit"; fi
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[[ "$exec_start" == /*/nbdattach\ -f\ --config\ %I ]] ||
    fail "unexpected ExecStart=$exec_start"
bin="${exec_start%% *}"

root="$tmp/root"
mkdir -p "$root/etc/systemd/system" "$root$(dirname "$bin")"
cp "$top_build/nbdattach/nbdattach" "$root$bin"
cp "$unit" "$root/etc/systemd/system/nbdattach@.service"
cp "$unit" "$root/etc/systemd/system/nbdattach@demo.service"
cp "$top_src/systemd/mnt-demo.mount" "$root/etc/systemd/system/"
# An instance whose NAME needs escaping (web-data).
cp "$unit" "$root/etc/systemd/system/nbdattach@web\\x2ddata.service"

export SYSTEMD_LOG_LEVEL=notice SYSTEMD_LOG_COLOR=0 SYSTEMD_PAGER=cat
status=0
for u in 'nbdattach@demo.service' 'nbdattach@web\x2ddata.service' mnt-demo.mount; do
    echo "== systemd-analyze verify $u"
    systemd-analyze verify --man=no --root="$root" \
        "/etc/systemd/system/$u" > "$tmp/out" 2>&1 || status=$?
    cat "$tmp/out"
    [[ $status -eq 0 ]] || fail "verify $u: exit status $status"
    [[ ! -s "$tmp/out" ]] || fail "verify $u: it printed messages"
done

# The verification catches mistakes (so that a pass means something).
sed 's/^Type=notify/Typo=notify/' "$unit" > "$root/etc/systemd/system/bad@x.service"
systemd-analyze verify --man=no --root="$root" \
    /etc/systemd/system/bad@x.service > "$tmp/out" 2>&1 || :
grep -q "Unknown key" "$tmp/out" || { cat "$tmp/out"; fail "verify did not notice an unknown key"; }

# What the unit promises (issue 5).
for want in Type=notify NotifyAccess=main 'ExecStartPre=-/sbin/modprobe -q nbd' \
            Restart=on-failure OOMScoreAdjust=-1000 \
            'Before=blockdev@dev-disk-by\x2dblockkit-%i.target' \
            'Wants=blockdev@dev-disk-by\x2dblockkit-%i.target'; do
    grep -qxF "$want" "$unit" || fail "$unit: no line $want"
done
# The example mount must not require or bind the service (see
# blockkit-devices(7), RESTARTS).
if grep -E '^(Requires|BindsTo|Requisite)=.*nbdattach' "$top_src/systemd/mnt-demo.mount"; then
    fail "mnt-demo.mount requires the service"
fi
echo "all units verified"
