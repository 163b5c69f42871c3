#!/usr/bin/env bash
# aws-sigv4= (S3 signing), tested on recorded requests: there is no S3
# server in Debian 12 short of Ceph's radosgw, so the plugin reads from
# test-http-server.py in "record" mode (Range honoured, every request's
# headers logged), and the log is checked here:
#   - the data read is right (nbdcopy, compared);
#   - every request (the HEAD, the Range check, the reads) carries
#     Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/s3/
#     aws4_request, SignedHeaders=... (host, x-amz-date and
#     x-amz-content-sha256 among them), Signature=<64 hex>, with the
#     x-amz-date of the same day and x-amz-content-sha256 the hash of an
#     empty body;
#   - each signature is recomputed here from the request, by the
#     algorithm AWS documents, with the secret key, and must match;
#   - the secret (given as password=+FILE) is never sent;
#   - aws-sigv4= without user= and password= is refused.
source "$abs_top_srcdir/tests/functions.sh"
source "$srcdir/curl-test-lib.sh"
requires nbdcopy

make_image "$tmp/disk.img" 2
start_pyserver s3 record "$tmp/disk.img"
printf 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' >"$tmp/secret"
url="http://127.0.0.1:$py_port/my-bucket/disks/disk.img"

bk -U - curl "$url" aws-sigv4=aws:amz:eu-west-3:s3 user=AKIAIOSFODNN7EXAMPLE \
    password=+"$tmp/secret" \
    --run "nbdcopy \"\$uri\" \"$tmp/copy.img\""
cmp "$tmp/disk.img" "$tmp/copy.img" || fail "data differs"

"$PYTHON" - "$tmp/s3.log" "$tmp/secret" <<'EOF' || fail "signature check"
import hashlib, hmac, json, re, sys
log, secret = sys.argv[1], open(sys.argv[2]).read()
empty = hashlib.sha256(b"").hexdigest()

def h(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()

n = {"HEAD": 0, "GET": 0}
for line in open(log):
    req = json.loads(line)
    hd = req["headers"]
    auth = hd.get("authorization")
    assert auth, "unsigned request: %r" % req
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
                     r"(\d{8})/eu-west-3/s3/aws4_request, "
                     r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})",
                     auth)
    assert m, "Authorization header has the wrong form: " + auth
    day, signed, signature = m.groups()
    amzdate = hd["x-amz-date"]
    assert re.fullmatch(day + r"T\d{6}Z", amzdate), amzdate
    assert hd["x-amz-content-sha256"] == empty, hd
    names = signed.split(";")
    for need in ("host", "x-amz-date", "x-amz-content-sha256"):
        assert need in names, (need, signed)
    assert secret not in line, "the secret key was sent"
    # The canonical request and string to sign (AWS SigV4), then the
    # signing key derived from the secret: the signature must agree.
    path, _, query = req["path"].partition("?")
    canonical = "\n".join([
        req["method"], path, query,
        "".join("%s:%s\n" % (k, " ".join(hd[k].split())) for k in names),
        signed, hd["x-amz-content-sha256"]])
    scope = "%s/eu-west-3/s3/aws4_request" % day
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = h(h(h(h(("AWS4" + secret).encode(), day), "eu-west-3"), "s3"),
            "aws4_request")
    mine = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    assert mine == signature, "bad signature for %r" % req
    n[req["method"]] += 1
assert n["HEAD"] == 1 and n["GET"] >= 2, n
print("%d requests, every signature verified" % sum(n.values()))
EOF

out=$(bk -U - curl "$url" aws-sigv4=aws:amz:eu-west-3:s3 --run true 2>&1) &&
    fail "aws-sigv4= without keys accepted"
grep -q "give both" <<<"$out" || fail "aws-sigv4 without keys: $out"
exit 0
