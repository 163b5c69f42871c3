#!/usr/bin/env bash
# fio verifies random reads through the xz filter: an image is first
# written by fio with its verify headers (crc32c of every 64K block, with
# the block's offset) into a plain file, compressed with xz, and then
# read at random through the filter by two fio jobs with 8 requests in
# flight each, every block checked.  Block sizes: 64KiB (one fio block
# per xz block), 100KiB (most reads straddle two xz blocks, most blocks
# are shared by two reads) and a single block.
source "$abs_top_srcdir/tests/functions.sh"
requires fio
requires xz
fio --enghelp 2>/dev/null | grep -qw nbd || skip "fio has no nbd engine"

img="$tmp/verify.img"
fio --name=write --filename="$img" --size=4M --bs=64k --rw=write \
    --ioengine=psync --verify=crc32c --do_verify=0 \
    --output="$tmp/fio-write.out" ||
    { cat "$tmp/fio-write.out"; fail "fio could not write the image"; }
[[ "$(stat -c %s "$img")" == $((4 * 1024 * 1024)) ]] || fail "image size"

xz -0 --block-size=64KiB -c "$img" >"$tmp/b64k.xz" &
xz -0 --block-size=100KiB -c "$img" >"$tmp/b100k.xz" &
xz -0 -T1 -c "$img" >"$tmp/single.xz" &
wait

for f in b64k b100k single; do
    start_server "$tmp/$f.sock" --filter=xz file "$tmp/$f.xz" xz-max-depth=4
    uri="$(nbd_uri "$tmp/$f.sock")"
    fio --name=randread --ioengine=nbd --uri="$uri" --size=4M --bs=64k \
        --rw=randread --iodepth=8 --numjobs=2 --verify=crc32c \
        --verify_fatal=1 --output="$tmp/fio-$f.out" ||
        { cat "$tmp/fio-$f.out"; fail "$f: fio failed"; }
    grep -q "err= 0" "$tmp/fio-$f.out" ||
        { cat "$tmp/fio-$f.out"; fail "$f: fio reported errors"; }
    if grep -qi "verify:" "$tmp/fio-$f.out"; then
        cat "$tmp/fio-$f.out"; fail "$f: fio verify failed"
    fi
    server_alive "$server_pid"
    stop_server "$server_pid"
done

# The check is live: the same run against a file fio did not write fails.
head -c 1M /dev/urandom >"$tmp/random.img"
xz -0 --block-size=64KiB -c "$tmp/random.img" >"$tmp/random.xz"
start_server "$tmp/random.sock" --filter=xz file "$tmp/random.xz"
if fio --name=randread --ioengine=nbd --uri="$(nbd_uri "$tmp/random.sock")" \
        --size=1M --bs=64k --rw=randread --iodepth=8 --verify=crc32c \
        --verify_fatal=1 --output="$tmp/fio-random.out" 2>/dev/null &&
        ! grep -qi "verify:" "$tmp/fio-random.out"; then
    fail "fio verify passed on data it did not write"
fi
echo OK
