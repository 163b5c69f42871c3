#!/usr/bin/env bash
# logscript=SCRIPT (nbdkit-log-filter(1)): the script runs once per log
# entry with $act, $type (ENTER, LEAVE, PRINT), $connection, $id, $return,
# $error and every other field of the entry ($offset, $count, $fua,
# $export, ...) as shell variables (the memory plugin keeps 32K pages,
# hence its extents); lists ($extents, $exports) are bash
# arrays.  Its stdin is not the client's socket, its exit status is
# ignored, and logfile= can be given alongside it.
source "$abs_top_srcdir/tests/functions.sh"
requires_nbdsh
requires bash -c 'a=(1 2)'

cat >"$tmp/script" <<'EOS'
{
  printf 'act=%s type=%s connection=%s id=%s' "$act" "$type" "${connection-unset}" "${id-unset}"
  case "$act.$type" in
    Ready.PRINT) printf ' thread_model=%s' "$thread_model" ;;
    Connect.PRINT) printf ' export=[%s] size=%s write=%s' "$export" "$size" "$write" ;;
    Write.ENTER) printf ' offset=%s count=%s fua=%s' "$offset" "$count" "$fua" ;;
    Zero.ENTER) printf ' trim=%s fast=%s' "$trim" "$fast" ;;
    Extents.LEAVE) printf ' n=%s e0=%s e1=%s e2=[%s] e5=[%s]' "${#extents[@]}" \
                          "${extents[0]}" "${extents[1]}" "${extents[2]}" "${extents[5]}" ;;
    ListExports.LEAVE) printf ' exports=%s' "${#exports[@]}" ;;
    Disconnect.PRINT) printf ' transactions=%s' "$transactions" ;;
  esac
  [ "$type" = LEAVE ] && printf ' return=%s error=%s' "$return" "${error-}"
  echo
} >>"$LOGOUT"
# stdin must not be the client's connection.
read -r line 2>/dev/null && echo "script read stdin: $line" >>"$LOGOUT"
exit 1
EOS
export LOGOUT="$tmp/out"

start_server "$tmp/sock" --filter=log --filter=error memory 1M \
    logscript="$(cat "$tmp/script")" logfile="$tmp/log" \
    error-pwrite-rate=1 error-pwrite=EIO error-pwrite-file="$tmp/fail"
pid=$server_pid
sock="$tmp/sock" fail="$tmp/fail" nbdpy <<'PYEOF'
import os, nbd
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.set_export_name("my disk")
h.connect_unix(os.environ["sock"])
h.pwrite(b"x" * 4096, 0x1000, nbd.CMD_FLAG_FUA)
h.zero(4096, 0x20000, nbd.CMD_FLAG_FAST_ZERO)
open(os.environ["fail"], "w").close()
try:
    h.pwrite(b"x" * 512, 0)
except nbd.Error:
    pass
os.unlink(os.environ["fail"])
h.block_status(65536, 0, lambda *a: 0)
h.shutdown()
PYEOF
for i in $(seq 50); do grep -q Disconnect "$tmp/out" 2>/dev/null && break; sleep 0.1; done
cat "$tmp/out"

expect() {
    grep -Fxq -- "$1" "$tmp/out" || fail "no script output: $1"
}
expect "act=Ready type=PRINT connection=unset id=unset thread_model=3"
expect "act=Preconnect type=ENTER connection=unset id=1"
expect "act=Preconnect type=LEAVE connection=unset id=1 return=0 error="
expect "act=Connect type=PRINT connection=1 id=unset export=[my disk] size=0x100000 write=1"
expect "act=Write type=ENTER connection=1 id=1 offset=0x1000 count=0x1000 fua=1"
expect "act=Write type=LEAVE connection=1 id=1 return=0 error="
expect "act=Zero type=ENTER connection=1 id=2 trim=1 fast=1"
expect "act=Write type=ENTER connection=1 id=3 offset=0x0 count=0x200 fua=0"
expect "act=Write type=LEAVE connection=1 id=3 return=-1 error=EIO"
expect "act=Extents type=LEAVE connection=1 id=4 n=6 e0=0x0 e1=0x8000 e2=[] e5=[hole,zero] return=0 error="
expect "act=Disconnect type=PRINT connection=1 id=unset transactions=4"
! grep -q "script read stdin" "$tmp/out" || fail "the script could read stdin"
# The script's failure changed nothing, and the file got its lines too.
grep -q "\.\.\.Write id=1 return=0$" "$tmp/log" || fail "logfile not written"
echo OK
