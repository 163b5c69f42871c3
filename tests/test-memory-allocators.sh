#!/usr/bin/env bash
# memory plugin: allocator=sparse|malloc[,mlock=true]|zstd.  Each one
# holds an image copied in with nbdcopy and read back, and takes a mix
# of writes, zeroes and trims from nbdsh whose resulting bytes and block
# status (nbdinfo --map) are compared with nbdkit's memory plugin given
# the same allocator, where nbdkit is installed.  Bad allocator= values
# are startup errors in both.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_nbdsh
requires nbdcopy
requires nbdinfo

allocators=(sparse malloc zstd "malloc,mlock=true" "malloc,mlock=false")
if is_blockkit && ! bk memory --dump-plugin | grep -q '^zstd=yes$'; then
    skip "this blockkit was built without libzstd (allocator=zstd)"
fi
have_nbdkit=false
type -P nbdkit >/dev/null 2>&1 && have_nbdkit=true

# An image with data, a hole and zeroes, copied in and read back.
head -c $((3 * 1024 * 1024)) /dev/urandom >"$tmp/img"
truncate -s 8M "$tmp/img"
head -c 100000 /dev/urandom | dd of="$tmp/img" bs=1 seek=$((6 * 1024 * 1024)) \
    conv=notrunc status=none
export tmp
for al in "${allocators[@]}"; do
    bk -U - memory 8M allocator="$al" \
        --run 'nbdcopy "$tmp/img" "$uri" && nbdcopy "$uri" "$tmp/back"' ||
        fail "allocator=$al: copying in and out"
    cmp "$tmp/img" "$tmp/back" || fail "allocator=$al: the image read back differs"
    echo "ok: allocator=$al holds an image"
done

# The same requests for every allocator; then the bytes and the map.
cat >"$tmp/ops.py" <<'EOF'
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
K = 1024
h.pwrite(b"x" * 10, 40000)                      # data in page 1
h.pwrite(b"\x01\x02" * 20000, 100000)           # across pages 3..4
h.pwrite(b"y" * 10, 400000)                     # page 12 ...
h.zero(10, 400005)                              # ... half cleared
h.pwrite(b"z" * 100, 600000)                    # page 18 ...
h.pwrite(bytes(100), 600000)                    # ... written back to zero
h.pwrite(b"w" * 65536, 700000)                  # pages 21..23 ...
h.trim(32768 * 2, 32768 * 22)                   # ... one whole page trimmed
h.zero(50, 40005)                               # a partial zero
h.pwrite(b"q", 800000)                          # page 24 ...
h.zero(1, 800000)                               # ... partly zeroed to all zero
h.pwrite(b"\xff" * 5000, 1048576 - 5000)        # the last bytes
assert h.pread(10, 40000) == b"x" * 5 + bytes(5)
EOF
result() {  # SERVER ALLOCATOR: the bytes' md5 and the map
    timeout -k 10 "$TEST_TIMEOUT" "$1" -U - memory 1M allocator="$2" --run '
        "$PYTHON" "$tmp/ops.py" "$uri" &&
        nbdcopy "$uri" - | md5sum &&
        nbdinfo --map "$uri"'
}
for al in "${allocators[@]}"; do
    result "$BLOCKKIT" "$al" >"$tmp/bk.out" || fail "allocator=$al: requests"
    if $have_nbdkit; then
        result nbdkit "$al" >"$tmp/ref.out" || fail "nbdkit allocator=$al"
        diff -u "$tmp/ref.out" "$tmp/bk.out" ||
            fail "allocator=$al: bytes or map differ from nbdkit's"
        echo "ok: allocator=$al: the same bytes and map as nbdkit"
    fi
done
# Many runs (more than one batch of them) and far apart pages: the
# same map as nbdkit's allocator=sparse (nbdkit 1.32's zstd allocator
# crashes on this, so it is compared with sparse for both).
cat >"$tmp/scatter.py" <<'EOF'
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
for i in range(3000):
    h.pwrite(b"s", i * 65536 + (i % 7) * 4096)
for i in range(0, 3000, 5):
    h.pwrite(bytes(1), i * 65536 + (i % 7) * 4096)  # some all-zero pages
h.pwrite(b"far", 200 << 30)
h.pwrite(b"end", (1 << 40) - 3)
EOF
scatter() {  # SERVER ALLOCATOR
    timeout -k 10 "$TEST_TIMEOUT" "$1" -U - memory 1T allocator="$2" --run '
        "$PYTHON" "$tmp/scatter.py" "$uri" && nbdinfo --map "$uri"'
}
for al in sparse zstd; do
    scatter "$BLOCKKIT" "$al" >"$tmp/bk.map" || fail "allocator=$al: scatter"
    [[ $(wc -l <"$tmp/bk.map") -gt 3000 ]] || fail "allocator=$al: short map"
    if $have_nbdkit; then
        scatter nbdkit sparse >"$tmp/ref.map" || fail "nbdkit: scatter"
        diff -u "$tmp/ref.map" "$tmp/bk.map" >/dev/null ||
            fail "allocator=$al: the map of scattered pages differs from nbdkit's"
        echo "ok: allocator=$al: $(wc -l <"$tmp/bk.map") runs, as nbdkit's"
    fi
done

# Block status while other connections zero and write (zero takes the
# sparse array's lock exclusively): nothing hangs or fails.
cat >"$tmp/race.py" <<'EOF'
import nbd, sys, threading, time
uri = sys.argv[1]
stop = time.time() + 3
def zeroer(k):
    h = nbd.NBD(); h.connect_uri(uri)
    while time.time() < stop:
        h.pwrite(b"x" * 4096, (k * 4096 * 37) % (16 << 20))
        h.zero(1 << 20, (k << 20) % (16 << 20))
        k += 1
def mapper():
    h = nbd.NBD(); h.add_meta_context("base:allocation"); h.connect_uri(uri)
    while time.time() < stop:
        h.block_status(16 << 20, 0, lambda *a: 0)
errors = []
def run(f, *a):
    try:
        f(*a)
    except Exception as e:
        errors.append(e)
ts = [threading.Thread(target=run, args=(zeroer, i)) for i in range(2)]
ts += [threading.Thread(target=run, args=(mapper,)) for i in range(2)]
for t in ts: t.start()
for t in ts: t.join()
if errors:
    print(errors)
    sys.exit(1)
EOF
for al in sparse zstd malloc; do
    bk -U - memory 16M allocator="$al" --run '"$PYTHON" "$tmp/race.py" "$uri"' ||
        fail "allocator=$al: block status racing zero"
done
echo "ok: block status racing writes and zeroes"

# malloc reports everything as data; the page-based ones do not.
result "$BLOCKKIT" malloc | grep -q '^ *0  *1048576  *0  *data$' ||
    fail "allocator=malloc: not all data"
result "$BLOCKKIT" zstd | grep -q 'hole,zero' || fail "allocator=zstd: no holes"
result "$BLOCKKIT" zstd | grep -q ' 2  *zero$' ||
    fail "allocator=zstd: a page of written zeroes is not 'zero'"

# zstd compresses: 64 MiB of text uses far less than 64 MiB of RAM.
rss_after() {  # ALLOCATOR: the server's RSS in KiB after the fill
    bk -U - memory 64M allocator="$1" --run '
        yes "blockkit compresses this line" | head -c $((64 * 1024 * 1024)) |
            nbdcopy - "$uri" &&
        awk "/^VmRSS/ { print \$2 }" /proc/$PPID/status'
}
if is_blockkit; then
    sparse_rss=$(rss_after sparse)
    zstd_rss=$(rss_after zstd)
    echo "RSS after 64 MiB of text: sparse ${sparse_rss} KiB, zstd ${zstd_rss} KiB"
    (( zstd_rss * 4 < sparse_rss )) || fail "allocator=zstd does not compress"

    # Trimming gives the memory back to the system (page-pool.c), also
    # after a large read has lent pages to a socket.
    rss=$(bk -U - memory 64M --run '
        head -c $((64 * 1024 * 1024)) /dev/urandom | nbdcopy - "$uri" &&
        awk "/^VmRSS/ { print \$2 }" /proc/$PPID/status &&
        nbdsh -u "$uri" -c "h.pread(1 << 20, 0); h.trim(64 << 20, 0)" &&
        awk "/^VmRSS/ { print \$2 }" /proc/$PPID/status' | tr '\n' ' ')
    read -r full trimmed <<<"$rss"
    echo "RSS with 64 MiB written: ${full} KiB, after trimming it: ${trimmed} KiB"
    (( full > 65536 && trimmed < full - 60000 )) ||
        fail "trimming 64 MiB did not give the memory back"
fi

# Errors, as nbdkit has them.
for bad in foo "sparse,mlock=true" "zstd,x=1" "malloc,foo=bar" "malloc,mlock=maybe"; do
    expect_fail bk -U - memory 1M allocator="$bad" --run true 2>/dev/null
    if $have_nbdkit; then
        expect_fail nbdkit -U - memory 1M allocator="$bad" --run true 2>/dev/null
    fi
done
# malloc takes its memory at startup: a size nothing can back fails.
expect_fail bk -U - memory 1E allocator=malloc --run true 2>/dev/null
echo "ok: errors"

# --dump-plugin has nbdkit's keys.
bk memory --dump-plugin | grep -q '^mlock=yes$' || fail "no mlock=yes"
bk memory --dump-plugin | grep -q '^zstd=yes$' || fail "no zstd=yes"

echo "$0: ok"
