#!/usr/bin/env bash
# The curl plugin over HTTPS and with HTTP basic authentication, against
# a real nginx started here with a CA and server certificate made now by
# tests/make-tls-certs.sh (certtool):
#   - verified with cainfo= (by name and by IP address) and capath=, the
#     bytes compared;
#   - refused, with a message about the certificate, with the system's
#     CAs and with another CA; accepted with sslverify=false;
#   - basic auth: user= with password=+FILE, password=-FD, and in the
#     URL; a wrong password and none are refused with HTTP 401, and the
#     password never appears in messages or in -D curl.verbose=1 output.
source "$abs_top_srcdir/tests/functions.sh"
source "$srcdir/curl-test-lib.sh"
requires nbdcopy
requires nbdinfo
requires certtool
requires psktool
requires openssl

certs="$tmp/certs"
bash "$abs_top_srcdir/tests/make-tls-certs.sh" "$certs"
chmod 0644 "$certs/server-key.pem"
mkdir -p "$www/private" "$tmp/capath"
make_image "$www/disk.img" 2
cp "$www/disk.img" "$www/private/disk.img"
cp "$certs/ca-cert.pem" "$tmp/capath/"
printf 'alice:%s\n' "$(openssl passwd -apr1 'open sesame')" >"$tmp/htpasswd"
printf 'open sesame' >"$tmp/password"
start_nginx

copy_ok() {  # copy_ok NAME ARGS...: nbdcopy through the plugin, compare
    local name="$1"; shift
    bk -U - curl "$@" --run "nbdcopy \"\$uri\" \"$tmp/$name.img\"" ||
        fail "$name: the server or nbdcopy failed"
    cmp "$www/disk.img" "$tmp/$name.img" || fail "$name: data differs"
}

# Verified.
copy_ok tls-name "https://localhost:$https_port/disk.img" \
    cainfo="$certs/ca-cert.pem"
copy_ok tls-ip "https://127.0.0.1:$https_port/disk.img" \
    cainfo="$certs/ca-cert.pem" connections=2
copy_ok tls-capath "https://localhost:$https_port/disk.img" \
    capath="$tmp/capath" cainfo=

# Refused: the system's CAs, another CA.  Quickly, and saying why.
out=$(bk -U - "https://localhost:$https_port/disk.img" --run true 2>&1) &&
    fail "a certificate from an unknown CA was accepted"
grep -qi "curl: https://localhost:$https_port/disk.img: .*certificate" <<<"$out" ||
    fail "unknown CA: unclear message: $out"
out=$(bk -U - curl "https://localhost:$https_port/disk.img" \
          cainfo="$certs/other/ca-cert.pem" --run true 2>&1) &&
    fail "a certificate from another CA was accepted"
grep -qi "certificate" <<<"$out" || fail "wrong CA: unclear message: $out"
copy_ok tls-noverify "https://localhost:$https_port/disk.img" \
    cainfo="$certs/other/ca-cert.pem" sslverify=false

# Basic authentication, over HTTP and over HTTPS.
purl="http://127.0.0.1:$http_port/private/disk.img"
copy_ok auth-file "$purl" user=alice password=+"$tmp/password"
copy_ok auth-fd "$purl" user=alice password=-3 3<"$tmp/password"
copy_ok auth-url "http://alice:open%20sesame@127.0.0.1:$http_port/private/disk.img"
copy_ok auth-tls "https://localhost:$https_port/private/disk.img" \
    cainfo="$certs/ca-cert.pem" user=alice password=+"$tmp/password"
grep -q '|206|.*|alice$' "$tmp/nginx/access.log" || fail "nginx saw no user"

out=$(bk -U - curl "$purl" user=alice password=wrong --run true 2>&1) &&
    fail "a wrong password was accepted"
grep -q "curl: $purl: .*HTTP 401 (Unauthorized)" <<<"$out" ||
    fail "wrong password: unclear message: $out"
out=$(bk -U - curl "$purl" --run true 2>&1) && fail "no password accepted"
grep -q "HTTP 401" <<<"$out" || fail "no password: $out"
out=$(bk -U - curl "http://alice:open%20sesame@127.0.0.1:$http_port/private/nothere.img" \
          --run true 2>&1) && fail "404 accepted"
grep -q "curl: http://127.0.0.1:$http_port/private/nothere.img: .*HTTP 404" <<<"$out" ||
    fail "404 with credentials: $out"
grep -q "sesame" <<<"$out" && fail "the password was printed: $out"

# The debug trace shows the headers, but not the credentials.
bk -v -D curl.verbose=1 -U - curl "$purl" user=alice \
    password=+"$tmp/password" cookie=+"$tmp/password" \
    --run 'nbdinfo --size "$uri"' >/dev/null 2>"$tmp/verbose.log"
grep -q "curl > Range: bytes=0-0" "$tmp/verbose.log" ||
    fail "-D curl.verbose=1 shows no headers"
grep -q "curl > Authorization: <hidden>" "$tmp/verbose.log" ||
    fail "-D curl.verbose=1: no hidden Authorization header"
b64=$(printf 'alice:open sesame' | base64)
if grep -q "sesame\|$b64" "$tmp/verbose.log"; then
    fail "-D curl.verbose=1 printed the password"
fi
exit 0
