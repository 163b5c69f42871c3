#!/usr/bin/env bash
# The curl plugin over plain HTTP from a real nginx started here:
#   - the size (HEAD) and every byte (nbdcopy, compared) of an image, by
#     url=, as the bare magic word, and as a URL in place of the plugin;
#     the size from a ranged GET when HEAD is refused (405);
#   - reads are Range requests (nginx's log shows them, 206 each);
#   - a redirect is followed, and refused with followlocation=false;
#   - 404 stops the server with the status and the URL, without the
#     user:password@ given in it;
#   - a server that ignores Range (200 with the whole file) is refused
#     with a clear message, at startup, and a read from one that starts
#     ignoring it later fails with EIO;
#   - header=, cookie= (from +FILE), user-agent= reach the server;
#   - writes are refused; --filter=cow makes a writable disk whose
#     writes never reach the server;
#   - a URL without a scheme, a scheme without ranges, and nbdkit keys
#     that are not provided are refused at startup.
source "$abs_top_srcdir/tests/functions.sh"
source "$srcdir/curl-test-lib.sh"
requires_nbdsh
requires nbdcopy
requires nbdinfo

make_image "$www/disk.img" 4
start_nginx
url="http://127.0.0.1:$http_port/disk.img"

# Size and data, three ways of naming the URL.
size=$(bk -U - curl url="$url" --run 'nbdinfo --size "$uri"')
[[ "$size" == 4194304 ]] || fail "size: $size"
bk -U - curl "$url" --run 'nbdcopy "$uri" "$tmp/copy1.img"'
cmp "$www/disk.img" "$tmp/copy1.img" || fail "nbdcopy (magic url) differs"
bk -U - "$url" --run 'nbdcopy --requests=16 "$uri" "$tmp/copy2.img"'
cmp "$www/disk.img" "$tmp/copy2.img" || fail "nbdcopy (URL shortcut) differs"
grep -q "^GET /disk.img HTTP/1.1|bytes=0-0|206|" "$tmp/nginx/access.log" ||
    fail "no Range check at startup in nginx's log"
grep -q "^GET /disk.img HTTP/1.1|bytes=[0-9]*-[0-9]*|206|" "$tmp/nginx/access.log" ||
    fail "no ranged reads in nginx's log"
if grep "^GET /disk.img" "$tmp/nginx/access.log" | grep -qv '|206|'; then
    fail "a GET that was not answered 206"
fi

# Odd offsets and lengths (not sector aligned) through nbdsh.
bk -U - curl "$url" --run 'nbdsh -u "$uri" -c "
import os
data = open(os.environ[\"tmp\"] + \"/www/disk.img\", \"rb\").read()
for off, n in ((0, 1), (1, 7), (511, 2), (4194303, 1), (123457, 65537), (4194304 - 1000, 1000)):
    assert h.pread(n, off) == data[off:off + n], (off, n)
"' || fail "unaligned reads"

# A server that refuses HEAD: the size comes from a ranged GET.
size=$(bk -U - curl "http://127.0.0.1:$http_port/nohead.img" \
          --run 'nbdinfo --size "$uri"')
[[ "$size" == 4194304 ]] || fail "size without HEAD: $size"
grep -q "^HEAD /nohead.img HTTP/1.1|-|405|" "$tmp/nginx/access.log" ||
    fail "HEAD was not refused"
grep -q "^GET /nohead.img HTTP/1.1|bytes=0-0|206|" "$tmp/nginx/access.log" ||
    fail "no ranged GET after HEAD was refused"

# A redirect.
bk -U - curl "http://127.0.0.1:$http_port/moved.img" \
    --run 'nbdcopy "$uri" "$tmp/copy3.img"'
cmp "$www/disk.img" "$tmp/copy3.img" || fail "through a redirect: differs"
out=$(bk -U - curl "http://127.0.0.1:$http_port/moved.img" \
          followlocation=false --run 'nbdinfo "$uri"' 2>&1) &&
    fail "followlocation=false followed the redirect"
grep -q "moved.img: .*HTTP 302" <<<"$out" || fail "followlocation=false: $out"
out=$(bk -U - curl "http://127.0.0.1:$http_port/moved-away.img" \
          --run 'nbdinfo "$uri"' 2>&1) && fail "a redirect to a 404 accepted"
grep -q "moved-away.img (redirected to http://127.0.0.1:$http_port/missing.img): .*HTTP 404" \
    <<<"$out" || fail "redirect to 404: $out"

# 404, with credentials in the URL that must not be printed.
out=$(bk -U - curl "http://alice:s3cr3t@127.0.0.1:$http_port/missing.img" \
          --run 'nbdinfo "$uri"' 2>&1) && fail "404 accepted"
grep -q "curl: http://127.0.0.1:$http_port/missing.img: .*HTTP 404 (Not Found)" \
    <<<"$out" || fail "404: unclear message: $out"
grep -q "s3cr3t\|alice" <<<"$out" && fail "404: credentials printed: $out"

# 403 and 503 at startup; 404 for a read once the file has gone (EIO,
# and the server's message names the read).
out=$(bk -U - curl "http://127.0.0.1:$http_port/forbidden.img" --run true 2>&1) &&
    fail "403 accepted"
grep -q "forbidden.img: .*HTTP 403 (Forbidden)" <<<"$out" || fail "403: $out"
out=$(bk -U - curl "http://127.0.0.1:$http_port/unavailable.img" --run true 2>&1) &&
    fail "503 accepted"
grep -q "unavailable.img: .*HTTP 503 (Service Temporarily Unavailable)" <<<"$out" ||
    fail "503: $out"
cp "$www/disk.img" "$www/gone.img"
out=$(bk -U - curl "http://127.0.0.1:$http_port/gone.img" --run '
    rm "$tmp/www/gone.img"
    nbdsh -u "$uri" -c "
try:
    h.pread(4096, 8192)
    raise SystemExit(\"read a file that has gone\")
except nbd.Error as e:
    assert e.errno == \"EIO\", e
"' 2>&1) || fail "a read of a file that has gone: $out"
grep -q "gone.img: reading 4096 bytes at offset 8192: HTTP 404 (Not Found)" <<<"$out" ||
    fail "404 while reading: $out"

# A server that ignores Range: refused at startup, clearly.
start_pyserver norange norange "$www/disk.img"
out=$(bk -U - curl "http://127.0.0.1:$py_port/disk.img" \
          --run 'nbdinfo "$uri"' 2>&1) && fail "a server ignoring Range was served"
grep -q "the server ignores Range requests: asked for bytes 0-0, it answered 200 with the whole body (4194304 bytes)" \
    <<<"$out" || fail "ignoring Range: unclear message: $out"

# A server that honours Range at startup and ignores it later: the read
# fails with EIO (its data never reaches the client) and a message.
start_pyserver fickle fickle "$www/disk.img"
out=$(bk -U - curl "http://127.0.0.1:$py_port/disk.img" --run 'nbdsh -u "$uri" -c "
try:
    buf = h.pread(4096, 65536)
    raise SystemExit(\"served a read from a server ignoring Range: %r\" % buf[:16])
except nbd.Error as e:
    assert e.errno == \"EIO\", e
"' 2>&1) || fail "fickle server: $out"
grep -q "the server ignores Range requests: asked for bytes 65536-69631, it answered 200 with the whole body (4194304 bytes)" \
    <<<"$out" || fail "fickle server: unclear message: $out"

# header=, cookie= (read from a file, like a password), user-agent=.
printf 'session=abc123' >"$tmp/cookie"
bk -U - curl "$url" header='X-Blockkit-Test: hello there' \
    cookie=+"$tmp/cookie" user-agent=blockkit-test/1 \
    --run 'nbdinfo --size "$uri"' >/dev/null
grep -q '|206|blockkit-test/1|hello there|session=abc123|' \
    "$tmp/nginx/access.log" || fail "header/cookie/user-agent not sent"

# Read-only: a write fails, and --filter=cow makes the disk writable with
# nothing written to the server.
bk -U - curl "$url" --run 'nbdsh -u "$uri" -c "
assert h.is_read_only()
try:
    h.pwrite(b\"x\" * 512, 0)
    raise SystemExit(\"write accepted\")
except nbd.Error:
    pass
"' || fail "write not refused"
before=$(md5 "$www/disk.img")
bk -U - --filter=cow curl "$url" --run 'nbdsh -u "$uri" -c "
import os
data = open(os.environ[\"tmp\"] + \"/www/disk.img\", \"rb\").read()
assert not h.is_read_only()
h.pwrite(b\"\\xab\" * 4096, 65536)
h.zero(8192, 1048576)
h.flush()
assert h.pread(4096, 65536) == b\"\\xab\" * 4096
assert h.pread(8192, 1048576) == bytes(8192)
assert h.pread(65536, 0) == data[:65536]
assert h.pread(4096, 65536 + 4096) == data[65536 + 4096:65536 + 8192]
"' || fail "cow over curl"
[[ "$(md5 "$www/disk.img")" == "$before" ]] || fail "cow wrote to the server's file"
if grep -q '^PUT\|^POST' "$tmp/nginx/access.log"; then fail "a write reached nginx"; fi

# Refused at startup, before any request.
out=$(bk -U - curl "127.0.0.1:$http_port/disk.img" --run true 2>&1) &&
    fail "a URL without a scheme was accepted"
grep -q "no scheme" <<<"$out" || fail "no scheme: $out"
out=$(bk -U - curl "gopher://127.0.0.1/x" --run true 2>&1) &&
    fail "gopher:// was accepted"
grep -q 'scheme "gopher" is not allowed' <<<"$out" || fail "gopher: $out"
out=$(bk -U - curl "$url" protocols=https --run true 2>&1) &&
    fail "http:// accepted with protocols=https"
grep -q 'scheme "http" is not allowed' <<<"$out" || fail "protocols=: $out"
out=$(bk -U - curl "$url" header-script='echo x' --run true 2>&1) &&
    fail "header-script= accepted"
grep -q "header-script= is not provided" <<<"$out" || fail "header-script: $out"
out=$(bk -U - curl --run true 2>&1) && fail "no url= accepted"
grep -q "url= is required" <<<"$out" || fail "no url: $out"

# file:// is a range protocol too.
bk -U - curl "file://$www/disk.img" --run 'nbdcopy "$uri" "$tmp/copy4.img"'
cmp "$www/disk.img" "$tmp/copy4.img" || fail "file:// differs"

# --dump-plugin names libcurl and whether it can sign for S3.
bk curl --dump-plugin | grep -q '^curl_aws_sigv4=yes' || fail "--dump-plugin"
exit 0
