#!/usr/bin/env bash
# Debian's scripted plugin binaries (eval, sh, tmpdisk), loaded by path.
# They depend on promises of the plugin API beyond the symbols:
#
# - The key and value strings given to .config stay valid until the
#   plugin is unloaded.  eval keeps each key as a method's name (a freed
#   key made every second method "defined more than once"), tmpdisk keeps
#   keys as the names of shell variables for its command.
# - A bare word after a plugin with a magic key is that key's value
#   (sh's script=); for a plugin without one (cc), a bare first word is
#   script=, which is how a self-running C plugin script names itself,
#   with server options after it.
# - --dump-plugin passes the parameters after it to .config, so sh shows
#   what its script dumps; it refuses -s.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdinfo

dir=
for d in /usr/lib/x86_64-linux-gnu/nbdkit/plugins /usr/lib/*/nbdkit/plugins /usr/lib64/nbdkit/plugins; do
    if [[ -f "$d/nbdkit-eval-plugin.so" ]]; then dir="$d"; break; fi
done
[[ -n "$dir" ]] || skip "Debian's nbdkit package (its plugins) is not installed"
p() { echo "$dir/nbdkit-$1-plugin.so"; }
for n in eval sh tmpdisk cc; do
    [[ -f "$(p "$n")" ]] || fail "missing $(p "$n")"
done

# eval: a disk in a file, every method its own key.
truncate -s 1M "$tmp/eval.img"
export evalimg="$tmp/eval.img"
bk -U - "$(p eval)" \
    get_size='stat -c %s "$evalimg"' \
    can_write='exit 0' \
    pread='dd if="$evalimg" skip=$4 count=$3 iflag=skip_bytes,count_bytes status=none' \
    pwrite='dd of="$evalimg" seek=$4 conv=notrunc oflag=seek_bytes status=none' \
    flush='sync' \
    --run 'nbdsh -u "$uri" -c "
assert h.get_size() == 1 << 20
h.pwrite(b\"eval was here\", 4096)
assert h.pread(13, 4096) == b\"eval was here\"
h.flush()
"' || fail "Debian eval plugin with five methods"
[[ "$(dd if="$tmp/eval.img" bs=1 skip=4096 count=13 status=none)" == "eval was here" ]] ||
    fail "Debian eval plugin: the write did not reach the file"
echo "ok: Debian eval plugin"

# tmpdisk: the extra keys become variables of the command, by name.
bk -U - "$(p tmpdisk)" size=1M greeting=hello place=2048 \
    command='truncate -s $size "$disk"
             printf "%s" "$greeting" |
                 dd of="$disk" seek=$place oflag=seek_bytes conv=notrunc status=none' \
    --run 'nbdsh -u "$uri" -c "
assert h.get_size() == 1 << 20, h.get_size()
assert h.pread(5, 2048) == b\"hello\", h.pread(5, 2048)
"' || fail "Debian tmpdisk plugin: the command's variables"
echo "ok: Debian tmpdisk plugin"

# sh: a script given as a bare word (the magic key) and as script=; its
# own keys are passed to its config method and reach it intact.
cat >"$tmp/disk.sh" <<'EOF'
#!/usr/bin/env bash
# $tmp and $state come from the environment of the test.
case "$1" in
    config) echo "$2=$3" >>"$state"; exit 0 ;;
    open) echo handle ;;
    get_size) echo 64K ;;
    pread)
        v="$(grep '^fill=' "$state" | cut -d= -f2)"
        head -c "$3" /dev/zero | tr '\0' "$v" ;;
    *) exit 2 ;;
esac
EOF
chmod +x "$tmp/disk.sh"
export state="$tmp/state"
for form in bare key; do
    rm -f "$state"
    if [[ $form == bare ]]; then script=("$tmp/disk.sh"); else script=(script="$tmp/disk.sh"); fi
    bk -U - "$(p sh)" "${script[@]}" fill=Q other=1 --run 'nbdsh -u "$uri" -c "
assert h.get_size() == 65536
assert h.pread(4, 100) == b\"QQQQ\"
"' || fail "Debian sh plugin ($form script)"
    [[ "$(cat "$state")" == $'fill=Q\nother=1' ]] ||
        fail "Debian sh plugin ($form script): config calls: $(cat "$state")"
done
echo "ok: Debian sh plugin"

# --dump-plugin with parameters: they reach .config (the script gets its
# config call and its dump_plugin output is shown); -s is refused; a bad
# value is an error.
cat >"$tmp/dump.sh" <<'EOF'
#!/usr/bin/env bash
case "$1" in
    dump_plugin) echo "from_the_script=42" ;;
    config) echo "$2=$3" >>"$state" ;;
    *) exit 2 ;;
esac
EOF
chmod +x "$tmp/dump.sh"
rm -f "$state"
bk --dump-plugin "$(p sh)" "$tmp/dump.sh" fill=X >"$tmp/dump" ||
    fail "--dump-plugin sh SCRIPT"
grep -qx "from_the_script=42" "$tmp/dump" || fail "--dump-plugin: the script's dump_plugin not shown"
grep -qx "name=sh" "$tmp/dump" || fail "--dump-plugin: no name=sh"
[[ "$(cat "$state")" == "fill=X" ]] || fail "--dump-plugin: .config not called with fill=X"
expect_fail bk -s --dump-plugin "$dir/nbdkit-memory-plugin.so" 2>/dev/null
expect_fail bk --dump-plugin "$dir/nbdkit-memory-plugin.so" size=bad 2>/dev/null
echo "ok: --dump-plugin with parameters"

# cc: a C plugin that runs itself (#if 0 / exec SERVER cc "$0" "$@"),
# with server options (-U, --run) after the script and a key.  The cc
# plugin has no magic key: the first bare word is its script=.
if type -P gcc >/dev/null; then
    export cc_plugin="$(p cc)" inc="$abs_top_srcdir/include"
    cat >"$tmp/plugin.c" <<'EOF'
#if 0
exec "$BLOCKKIT" "$cc_plugin" "$0" EXTRA_CFLAGS="-I$inc" "$@"
#endif
#include <stdint.h>
#include <string.h>
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static int64_t size = 1024 * 1024;

static int
c_config (const char *key, const char *value)
{
  if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);
    return size == -1 ? -1 : 0;
  }
  nbdkit_error ("unknown key %s", key);
  return -1;
}

static void *c_open (int readonly) { return NBDKIT_HANDLE_NOT_NEEDED; }
static int64_t c_get_size (void *h) { return size; }

static int
c_pread (void *h, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
  memset (buf, 'C', count);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "ccscript", .config = c_config, .open = c_open,
  .get_size = c_get_size, .pread = c_pread,
};
NBDKIT_REGISTER_PLUGIN (plugin)
EOF
    chmod +x "$tmp/plugin.c"
    cat >"$tmp/check-cc.py" <<'EOF'
import sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
assert h.get_size() == 2 << 20, h.get_size()
assert h.pread(3, 7) == b"CCC"
h.shutdown()
EOF
    (cd "$tmp" && timeout 120 bash -c \
        './plugin.c -U - size=2M --run "\"$PYTHON\" check-cc.py \"\$uri\""') ||
        fail "Debian cc plugin: self-running C plugin script"
    echo "ok: Debian cc plugin (script=, options after it)"
else
    echo "gcc not installed: the cc plugin is not tested"
fi

echo "$0: ok"
