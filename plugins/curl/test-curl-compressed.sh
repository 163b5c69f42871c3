#!/usr/bin/env bash
# Compressed images from a web server, the combination virt-v2v and
# KubeVirt's importer use: the xz filter and the gzip filter stacked on
# the curl plugin, against a real nginx.  The xz file has 256K blocks, so
# reads fetch only the blocks they need (nginx's log shows ranged GETs,
# never the whole file); both images are copied whole with nbdcopy and
# compared with the original, and random reads through several
# connections are compared too.
source "$abs_top_srcdir/tests/functions.sh"
source "$srcdir/curl-test-lib.sh"
requires nbdcopy
requires_nbdsh
requires xz
requires gzip

make_image "$tmp/orig.img" 8
xz -k -T1 --block-size=256KiB -c "$tmp/orig.img" >"$www/disk.img.xz"
gzip -c "$tmp/orig.img" >"$www/disk.img.gz"
start_nginx
base="http://127.0.0.1:$http_port"

bk -U - --filter=xz curl url="$base/disk.img.xz" --run 'nbdcopy "$uri" "$tmp/xz.img"'
cmp "$tmp/orig.img" "$tmp/xz.img" || fail "xz over curl: bytes differ"
bk -U - --filter=gzip "$base/disk.img.gz" --run 'nbdcopy "$uri" "$tmp/gz.img"'
cmp "$tmp/orig.img" "$tmp/gz.img" || fail "gzip over curl: bytes differ"

# Random reads, 4 connections, against the original.
bk -U - --filter=xz curl url="$base/disk.img.xz" --run '
  "$PYTHON" - "$uri" "$tmp/orig.img" <<'"'"'PYEOF'"'"'
import random, sys, threading, nbd
uri, orig = sys.argv[1], open(sys.argv[2], "rb").read()
def worker(seed):
    h = nbd.NBD(); h.connect_uri(uri); r = random.Random(seed)
    for _ in range(40):
        off = r.randrange(0, len(orig) - 70000); n = r.randrange(1, 70000)
        assert h.pread(n, off) == orig[off:off + n], (off, n)
    h.shutdown()
ts = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
PYEOF'

# The xz filter fetched ranges, never the whole compressed file.
grep -q '^GET /disk.img.xz HTTP/1.1|bytes=' "$tmp/nginx/access.log" ||
    fail "no ranged GETs of the .xz file"
if grep '^GET /disk.img.xz' "$tmp/nginx/access.log" | grep -q '|-|200|'; then
    fail "the .xz file was fetched whole"
fi
echo PASS
