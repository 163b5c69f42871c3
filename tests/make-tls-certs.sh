#!/usr/bin/env bash
# make-tls-certs.sh DIR: real X.509 certificates for the TLS tests, made
# with GnuTLS's certtool, laid out as blockkit --tls-certificates=DIR and
# libnbd's tls-certificates= expect them:
#   DIR/ca-cert.pem DIR/ca-key.pem          a CA
#   DIR/server-cert.pem DIR/server-key.pem  server, CN=localhost,
#                                           IP 127.0.0.1 and ::1
#   DIR/client-cert.pem DIR/client-key.pem  a client, signed by the CA
#   DIR/other/...                           another CA and its client
#                                           (not trusted by the server)
#   DIR/keys.psk                            PSK user "alice" (psktool)
set -euo pipefail
dir="$1"
mkdir -p "$dir/other"
cd "$dir"

ca() {  # ca DIR CN
    certtool --generate-privkey --key-type=ecdsa >"$1/ca-key.pem" 2>/dev/null
    cat >"$1/ca.info" <<EOT
cn = $2
ca
cert_signing_key
expiration_days = 30
EOT
    certtool --generate-self-signed --load-privkey "$1/ca-key.pem" \
        --template "$1/ca.info" --outfile "$1/ca-cert.pem" 2>/dev/null
}
leaf() {  # leaf DIR NAME TEMPLATE-LINES...
    local d="$1" name="$2"; shift 2
    certtool --generate-privkey --key-type=ecdsa >"$d/$name-key.pem" 2>/dev/null
    printf '%s\n' "$@" "expiration_days = 30" >"$d/$name.info"
    certtool --generate-certificate --load-privkey "$d/$name-key.pem" \
        --load-ca-certificate "$d/ca-cert.pem" --load-ca-privkey "$d/ca-key.pem" \
        --template "$d/$name.info" --outfile "$d/$name-cert.pem" 2>/dev/null
}

ca . "blockkit test CA"
leaf . server "organization = blockkit tests" "cn = localhost" \
    "dns_name = localhost" "ip_address = 127.0.0.1" "ip_address = ::1" \
    tls_www_server encryption_key signing_key
leaf . client "country = US" "organization = BigCo" "cn = client.example.com" \
    tls_www_client encryption_key signing_key
ca other "some other CA"
leaf other client "cn = intruder.example.com" tls_www_client encryption_key signing_key
cp ca-cert.pem other/server-ca.pem
psktool -u alice -p keys.psk >/dev/null
