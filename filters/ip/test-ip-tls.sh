#!/usr/bin/env bash
# ip: rules on the TLS identity, with real certificates (certtool) and
# PSK keys (psktool): dn: admits one client certificate and refuses
# another signed by the same CA; psk: admits one PSK user and refuses
# another; the refusal is logged with the client's DN or user.
source "$abs_top_srcdir/tests/functions.sh"
requires nbdinfo
requires certtool
requires psktool
"$abs_top_srcdir/tests/make-tls-certs.sh" "$tmp/certs"
certs="$tmp/certs"

# A second client certificate from the same CA.
cd "$certs"
certtool --generate-privkey --key-type=ecdsa >client2-key.pem 2>/dev/null
printf '%s\n' "cn = other.example.com" tls_www_client encryption_key \
    signing_key "expiration_days = 30" >client2.info
certtool --generate-certificate --load-privkey client2-key.pem \
    --load-ca-certificate ca-cert.pem --load-ca-privkey ca-key.pem \
    --template client2.info --outfile client2-cert.pem 2>/dev/null
cd - >/dev/null
mkdir "$tmp/c1" "$tmp/c2"
cp "$certs/ca-cert.pem" "$certs/client-cert.pem" "$certs/client-key.pem" "$tmp/c1/"
cp "$certs/ca-cert.pem" "$tmp/c2/"
cp "$certs/client2-cert.pem" "$tmp/c2/client-cert.pem"
cp "$certs/client2-key.pem" "$tmp/c2/client-key.pem"

dn="$(certtool -i --infile "$certs/client-cert.pem" | sed -n 's/^\tSubject: //p')"
[[ -n "$dn" ]] || fail "cannot read the client certificate's DN"
echo "client DN: $dn"

start_server "$tmp/x509.sock" --tls=require --tls-certificates="$certs" \
    --tls-verify-peer --filter=ip memory 1M deny=all allow="dn:$dn"
u="nbds+unix:///?socket=$tmp/x509.sock&tls-certificates="
[[ "$(nbdinfo --size "${u}$tmp/c1")" == 1048576 ]] || fail "dn: refused the allowed DN"
expect_fail nbdinfo --size "${u}$tmp/c2" 2>/dev/null
grep -q 'not permitted.*dn="CN=other.example.com' "$tmp/server.log" ||
    fail "refusal does not name the DN: $(tail -3 "$tmp/server.log")"

psktool -u bob -p "$certs/keys.psk" >/dev/null
start_server "$tmp/psk.sock" --tls=require --tls-psk="$certs/keys.psk" \
    --filter=ip memory 1M allow=psk:alice deny=all
p="?socket=$tmp/psk.sock&tls-psk-file=$certs/keys.psk"
[[ "$(nbdinfo --size "nbds+unix://alice@/$p")" == 1048576 ]] || fail "psk:alice refused"
expect_fail nbdinfo --size "nbds+unix://bob@/$p" 2>/dev/null
grep -q 'psk="bob"' "$tmp/server.log" || fail "refusal does not name the PSK user"

expect_fail bk --filter=ip memory 1M allow=dn: --run true 2>"$tmp/err"
grep -q 'dn:DN or psk:USER' "$tmp/err" || fail "empty dn: not a clear error"
echo PASS
