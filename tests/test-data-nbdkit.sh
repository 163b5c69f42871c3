#!/usr/bin/env bash
# data plugin, side by side with nbdkit 1.32's: for each of many
# expressions (every feature of the language: bytes, le16:..be64: words,
# strings, @ moves, groups, repeats, [N:M] slices, -> \NAME and \NAME,
# $VAR from parameters and the environment, <FILE, <(SCRIPT), comments)
# both servers serve the disk and the test compares, from real clients,
# the bytes (nbdcopy), the size (nbdinfo --size) and the block status
# (nbdinfo --map: explicitly written zero bytes are allocated data that
# reads as zero, zeroes from fills and copied groups are holes, as in
# nbdkit).  An expression nbdkit rejects must be rejected too.  Then the
# same for allocator=malloc and allocator=zstd, and the few places where
# blockkit deliberately accepts more than nbdkit.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires nbdcopy
requires nbdinfo
type -P nbdkit >/dev/null 2>&1 ||
    skip "nbdkit (the reference) is not installed (Debian: nbdkit)"
is_blockkit && ! bk data --dump-plugin | grep -q '^zstd=yes$' &&
    skip "this blockkit was built without libzstd (allocator=zstd)"

cd "$tmp"
head -c 10 /dev/zero >z10
printf 'hello, file\n' >hello
head -c 70000 /dev/urandom >rand70k
export PATTERN_ENV='0x55 0xAA'

# serve SERVER EXPR [PARAMS...]: md5 of the bytes, the size and the map,
# or ERROR.  EXPR - means none (raw= or base64= is in PARAMS).
serve() {
    local server="$1" expr="$2"; shift 2
    [[ "$expr" == - ]] && set -- data "$@" || set -- data "$expr" "$@"
    timeout -k 5 60 "$server" -U - "$@" --run '
        nbdcopy "$uri" - | md5sum && nbdinfo --size "$uri" &&
        nbdinfo --map "$uri"' 2>/dev/null || echo ERROR
}

params=(p='@2 9 8' q='\a \a' z=0 y='0 "\x00"' w='1 @-1 0' p_q=7
        sector='( 0x55 0xAA ) -> \sig ( @0x1fe \sig )')
n=0 failed=0
compare() {  # EXPR [EXTRA PARAMS...]
    local expr="$1"; shift
    local ref out
    local -a vars=()
    # Variables are parameters, which only data= allows.
    [[ "$expr" != - ]] && vars=("${params[@]}")
    ref="$(serve nbdkit "$expr" "${vars[@]}" "$@")"
    out="$(serve "$BLOCKKIT" "$expr" "${vars[@]}" "$@")"
    n=$((n + 1))
    if [[ "$ref" != "$out" ]]; then
        failed=$((failed + 1))
        echo "DIFFERENT: data '$expr' $*" >&2
        echo "  nbdkit:   $(echo $ref | cut -c1-300)" >&2
        echo "  blockkit: $(echo $out | cut -c1-300)" >&2
    fi
}

while IFS= read -r expr; do
    [[ -z "$expr" || "$expr" == '##'* ]] && continue
    compare "$expr"
done <<'EOF'
## bytes, words, strings, moves
1 2 3
0x55 0xAA 255 017
1 @0x10 2
0 1 2 3 @^0x200 @-2 le16:0xaa55
@0x1be 0 0 2 0 0x83 0x20 0x20 0 le32:1 le32:0x7ff @0x1fe 0x55 0xaa
le16:0x1234 be16:0x1234 le32:1 be32:1 le64:0x0102030405060708 be64:1
le64:18446744073709551615 be32:4294967295
le16:01777 be16:1 # comment
le16:1 *3
le16:70000
le32:-1
le8:1
LE16:1
"hi\n\t\x01\\\"" 9
1 2 3 @-2 9
1 2 3 @-4 9
@4 @+4 1 @^16 2 @-1 3
## comments
1 # one
## groups, repeats
( 0x55 0xAA )*2048
( "Hello" )*2000
(0 1 2 3)*1000
1 2 3 4 5 6 @0 (@1 9)
1 2 3 4 5 6 @0 (@1 9)*2
(1 2 3 @-2) 9
(@4 1)*2
1 2 (@1)
(1 @1000 2)*20
((1 2) (3 (4 5))*2)*3
## slices
(1 2 3)[1:2]
(1 2 3)[:2]
(1 2 3)[1:]
(1 2 3)[:]
(1 2 3)[1:1]
(1 2 3)[2:1]
(1 2 3)[0:5]
(1 2 3)*2[1:3]
(1 2 3)[1:3]*2
"hello"[1:3]
1 2 3[0:1]
(@4 1)[2:]
(@4)[1:2]
@4 [0:1]
<hello[7:11]
<hello[0:100]
<hello[5:100]
<hello[20:30]
<hello[100:]
<(echo hi)[0:100]
<(echo hi)[5:]
<(echo hi)[3:]
<(printf "abcd")[1:5]
<(printf "abcd")[1:4]
<(printf "abcd")[0:5]
()[1:1]
(1 2)[3:3]
\x[1:1]
<rand70k[100:65636]
## names
(1 2 3) -> \a \a \a
\a
(1) -> \a (2) -> \a \a
( (1 2) -> \x \x ) \x
1 -> \a
(0x55 0xAA) -> \boot-signature ( @0x1fe \boot-signature ) -> \sector \sector \sector
(1) -> \a (\a \a) -> \a \a
(1 2) -> \a \a*3
(1 2) -> \a \a[1:]
(1 2) -> \a * 2 \a
(1)->\a \a
1 2 -> \a \a
(3) -> \a ( \a (4) -> \a \a ) \a
"ab" -> \s \s
@4 -> \a \a 1
((1 2) -> \a \a \a (3) -> \a \a)*3
## variables (parameters and the environment)
$p*2
( 1 $p 2 )
$p[1:2]
\a $p
$undefined
$1x
$p-q
$p_q
$
(1) -> \a $q
$sector $sector
$PATTERN_ENV*16
## files and scripts
<hello <hello
<z10*2
<(echo hi) -> \a \a
<(printf "\\x00\\x01")
<(exit 1) 1
<(echo (hi))
<(pwd)
<(yes)[:5]
(<(yes))[:5]
<(i=0; while :; do printf "%04d" $i; i=$((i+1)); done)[:32768]
## block status: written zeroes are data, fills and copies of zeroes holes
0
0 0 0 0
0*100000
0*1
(0)*5
(0)
1 (0)
"\x00\x00"
le32:0
1 @100000 0
@100000 0
1 @100000 0 0
1 @100000 0*2
1 @100000 "\x00"
1 @100000 "\x00\x00"
0 @100000 0
1 @100000 le16:0
1 @100000 (0)
1 @100000 (0 0)
1 @100000 0 @200000 0
1 @100000 0 "\x00"
1 @100000 0 le16:0
1 @100000 "\x00"*3
1 @100000 0*2*3
1 @100000 ((0))
1 @100000 ("\x00")*3
1 @100000 (0 "\x00")
1 @100000 le16:0x0100 @-1 0
1 @100000 "\x00\x00\x01" @-1 0
1 @100000 (1 @-1 0)
1 @100000 (0 1 @-1 0)
1 @100000 (1 @-1 0)*3
1 @100000 (1 @-1 0)[0:1]
1 @100000 (1 @-1 0) -> \a \a
1 @100000 (1 @40000 0)
1 @100000 (1 @70000 2)
1 @100000 (@40000 2)
1 @100000 (1 @32767 0 0 0)
1*100000 @0 (@70000)
1*100000 @0 (@40000 1)
1*10 @0 0*10
1 @100000 <z10
1 @100000 <(head -c 10 /dev/zero)
1 @100000 <z10*2
1 @100000 <z10[0:2]
1 @100000 0[0:1]
1 @100000 0*2[0:1]
1 2 -> \a @100000 \a
1 2 -> \a @100000 0 -> \b \b
1 @100000 $z
1 @100000 $y
1 @100000 $w
1 @100000 $z*2
1 @100000 $z[0:1]
1 @100000 $z -> \a \a
1 @100000 "\x00" 0
1 @100000 "\x00\x00" 0
1 @100000 le16:0 0
1 @100000 le16:0 0 1 @-1 0
1 @100000 0 0 "\x00"
<z10 @-6 le32:0  0
(<z10 @1)
((<z10 @1))
(<z10 @1) @100000 1
(<z10 @1 (5 @-1 0))
1 @100000 (0 "\x00")[:1]
1 @100000 ("\x00" 0)[:1]
1 @100000 ("\x00" "\x00")[:1]
1 @100000 (0 0 1)[0:2]
1 @100000 (0 1 1)[0:1]
1 @100000 (1 1 0)[2:3]
1 @100000 (0 0 "\x01")[0:1]
1 @100000 ("\x01" 0 0)[1:2]
1 @100000 (0 "\x00\x00")[0:1]
1 @100000 0 "\x00\x00"
1 @100000 "\x00\x00" "\x00"
1 @100000 (0*3 0*2)[0:1]
1 @100000 (0 0*2)[0:1]
1 @100000 ("\x01" 0*3)[1:2]
(be64:1  "ab")[:1]
<hello "xyz\x00" $p (1 <z10 @^32768)
1 @40000 (1 @20000)*2 @100000 (1 @40000)*3 (2 @30000)*5
EOF
echo "ok: $n expressions compared with nbdkit, $failed different"

# size=, raw=, base64= and the allocators.
for al in sparse malloc zstd "malloc,mlock=true"; do
    compare '1 @100000 0 (1 @-1 0) 2 @200000 (0 0)' size=300000 allocator="$al"
    compare '1*100000 @0 (@70000 1) @200000 (1 @40000)*3 <z10 "\x00\x00" 0 0' allocator="$al"
    compare '(1 @70000) @0 0*2 1 2 -> \a @300000 \a*5 (@4)[1:3]' allocator="$al"
    compare '(1 2 3)*1000' size=1000 allocator="$al"
    compare - raw=hello size=100000 allocator="$al"
    compare - base64=aGVsbG8= allocator="$al"
done
compare - raw=hello p=1
compare - base64=aGVsbG8= p=1
[[ $failed -eq 0 ]] || fail "$failed of $n disks differ from nbdkit's"
echo "ok: $n disks in all, each the same as nbdkit's"

# Random expressions from a fixed seed (the same every run), built from
# every part of the language and compared the same way.  Left out are
# the few places where nbdkit 1.32 misbehaves (see the man page):
# BYTE[N:M] with M < N, and slices of scripts starting at 0.
"$PYTHON" - >random.exprs <<'EOF'
import random
random.seed(20261201)
def num():
    return random.choice(['0', '1', '2', '255', '0x55', '017', '0', '0'])
def item(d, names):
    r = random.random() * (0.6 if d > 3 else 1)
    if r < 0.2: return num()
    if r < 0.27: return '"%s"' % random.choice(['ab', '\\x00\\x00', '\\x00', 'a'])
    if r < 0.32: return random.choice(['le16:', 'be16:', 'le32:', 'be64:']) + \
        random.choice(['0', '1', '0x1234', '256']) + ' '
    if r < 0.40: return '@' + random.choice(['', '+', '-', '^']) + \
        random.choice(['0', '1', '2', '4', '16', '32767', '40000', '70000'])
    if r < 0.45 and names: return '\\' + random.choice(names)
    if r < 0.48: return random.choice(['$p', '$q', '$z'])
    if r < 0.51: return '<z10'
    if r < 0.53: return '<(printf "ab\\000c")'
    if r < 0.75:
        inner = ' '.join(item(d + 1, names) for _ in range(random.randint(0, 4)))
        return '(' + inner + ')' + post(names)
    x = item(d + 1, names)
    return x if x.startswith('@') or x.startswith('<(') else x + post(names)
def post(names):
    r = random.random()
    if r < 0.2: return '*' + random.choice(['0', '1', '2', '3', '33'])
    if r < 0.35:
        a = random.choice(['', '', '0', '1'])
        b = random.choice(['', '', '1', '2', '3'])
        if a and b and int(b) < int(a): a, b = b, a
        return '[%s:%s]' % (a, b)
    if r < 0.45:
        n = random.choice(['a', 'b', 'c'])
        names.append(n)
        return ' -> \\' + n
    return ''
for i in range(100):
    names = []
    print(' '.join(item(0, names) for _ in range(random.randint(1, 6))))
EOF
params=(p='1 @-1 0 (2 3)[1:]' q='\a \a' z=0)
n=0 failed=0
while IFS= read -r expr; do
    compare "$expr" allocator=$( ((n % 3 == 2)) && echo malloc || echo sparse)
done <random.exprs
[[ $failed -eq 0 ]] || fail "$failed of $n random disks differ from nbdkit's"
echo "ok: $n random disks, each the same as nbdkit's"

# Random data cannot be compared with another server, only its shape:
# the same 512 random bytes in each of 16 sectors.
bk -U - data '</dev/urandom[:512]*16' --run 'nbdcopy "$uri" -' >sectors
[[ $(stat -c %s sectors) -eq 8192 ]] || fail "</dev/urandom[:512]*16: size"
for i in $(seq 1 15); do
    cmp -s <(head -c 512 sectors) <(tail -c +$((i * 512 + 1)) sectors | head -c 512) ||
        fail "</dev/urandom[:512]*16: sector $i differs from sector 0"
done
echo "ok: </dev/urandom[:512]*16"

if is_blockkit; then
    # Accepted by blockkit, not by nbdkit 1.32: k/M/G... suffixes on
    # offsets, counts and slices, and a word or file name ended by ')'.
    bk -U - data '@1k 1 (0 1 2 3)*1M (1*2048)[1k:] (le16:1) (<hello)' \
        --run 'nbdinfo --size "$uri"' >size
    [[ $(cat size) -eq $((1025 + 4 * 1024 * 1024 + 1024 + 2 + 12)) ]] ||
        fail "suffixes: size $(cat size)"
    # Where nbdkit hangs: a slice not starting at 0 of an endless
    # script, and a variable that refers to itself (an error here).
    out="$(bk -U - data '<(yes)[2:5]' --run 'nbdcopy "$uri" -')"
    [[ "$out" == $'y\ny' ]] || fail "<(yes)[2:5] gave '$out'"
    expect_fail bk -U - data '$r' r='$r' --run true 2>/dev/null
    echo "ok: blockkit's extensions"
fi

echo "$0: ok"
