#!/usr/bin/env bash
# What libnbd will not send, sent over a raw socket (python stdlib only):
# unknown options and commands, bad magic, truncated handshakes, huge option
# lengths, oversized and out-of-range write payloads.  The server answers as
# the NBD spec says, keeps framing or disconnects cleanly, never crashes,
# never corrupts data, and accepts new connections afterwards.
source "${srcdir:-$(dirname "$0")}/functions.sh"
requires_python

start_server "$tmp/sock" memory 256M
pid="$server_pid"

timeout -k 10 "$TEST_TIMEOUT" "$PYTHON" - "$tmp/sock" <<'PYEOF'
import socket, struct, sys, threading, time

SOCK = sys.argv[1]
NBDMAGIC = 0x4e42444d41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x3e889045565a9
REQ_MAGIC = 0x25609513
SIMPLE_REPLY = 0x67446698
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO = 1, 2, 3, 6, 7
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
ERR_UNSUP, ERR_POLICY, ERR_INVALID, ERR_PLATFORM, ERR_TLS_REQD, \
    ERR_UNKNOWN, ERR_SHUTDOWN, ERR_BLOCK_SIZE_REQD, ERR_TOO_BIG = \
    [0x80000000 + i for i in range(1, 10)]
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH = 0, 1, 2, 3
EPERM, EIO, ENOMEM, EINVAL, ENOSPC, EOVERFLOW, ENOTSUP = 1, 5, 12, 22, 28, 75, 95
M = 1 << 20
SIZE = 256 * M

failures = []
def check(cond, what):
    if cond:
        print("ok:", what)
    else:
        print("FAIL:", what)
        failures.append(what)

class EOF(Exception):
    pass

def recvall(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOF("EOF after %d of %d bytes" % (len(buf), n))
        buf += d
    return buf

def connect(timeout=20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(SOCK)
    return s

def greet(s, flags=3):
    magic, opt, sflags = struct.unpack(">QQH", recvall(s, 18))
    assert magic == NBDMAGIC and opt == IHAVEOPT, "not fixed newstyle"
    assert sflags & 1, "server lacks FIXED_NEWSTYLE"
    s.sendall(struct.pack(">I", flags))
    return sflags

def send_opt(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)

def recv_opt_reply(s):
    magic, opt, rtype, length = struct.unpack(">QIII", recvall(s, 20))
    assert magic == REPLY_MAGIC, hex(magic)
    return opt, rtype, recvall(s, length)

def go(s, name=b""):
    send_opt(s, OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    size = None
    while True:
        opt, rtype, data = recv_opt_reply(s)
        assert opt == OPT_GO
        if rtype == REP_INFO:
            if struct.unpack(">H", data[:2])[0] == 0:  # NBD_INFO_EXPORT
                size, tflags = struct.unpack(">QH", data[2:12])
        elif rtype == REP_ACK:
            return size
        else:
            raise AssertionError("GO failed: 0x%x" % rtype)

def request(s, cmd, offset, length, handle, flags=0, payload=b""):
    s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, flags, cmd, handle, offset, length) + payload)

def simple_reply(s):
    magic, err, handle = struct.unpack(">IIQ", recvall(s, 16))
    assert magic == SIMPLE_REPLY, hex(magic)
    return err, handle

def read(s, offset, length, handle=0x1234):
    request(s, CMD_READ, offset, length, handle)
    err, h = simple_reply(s)
    assert h == handle, "handle mismatch"
    assert err == 0, "read error %d" % err
    return recvall(s, length)

def expect_eof(s, secs=10):
    """True if the server closes the connection within secs."""
    s.settimeout(secs)
    try:
        while s.recv(65536):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False

def fresh_ok(what):
    """A brand new connection completes the handshake and reads."""
    try:
        s = connect()
        greet(s)
        size = go(s)
        d = read(s, 0, 4096)
        request(s, CMD_DISC, 0, 0, 1)
        s.close()
        check(size == SIZE and len(d) == 4096, "server usable after: " + what)
    except Exception as e:
        check(False, "server usable after: %s (%r)" % (what, e))
        raise SystemExit(1)

# ---------------- handshake ----------------
# Unknown option -> NBD_REP_ERR_UNSUP, then the handshake continues.
s = connect()
greet(s)
send_opt(s, 0x4242, b"whatever")
opt, rtype, _ = recv_opt_reply(s)
check(opt == 0x4242 and rtype == ERR_UNSUP, "unknown option -> ERR_UNSUP (got 0x%x)" % rtype)
# NBD_OPT_LIST with a payload is invalid -> ERR_INVALID.
send_opt(s, OPT_LIST, b"junk")
opt, rtype, _ = recv_opt_reply(s)
check(rtype == ERR_INVALID, "LIST with payload -> ERR_INVALID (got 0x%x)" % rtype)
# NBD_OPT_LIST proper: SERVER replies then ACK.
send_opt(s, OPT_LIST)
names = []
while True:
    opt, rtype, data = recv_opt_reply(s)
    if rtype == REP_ACK:
        break
    assert rtype == REP_SERVER, hex(rtype)
    n = struct.unpack(">I", data[:4])[0]
    names.append(data[4:4 + n])
check(b"" in names or len(names) >= 1, "LIST returns exports %r" % names)
# NBD_OPT_INFO with a truncated payload -> ERR_INVALID.
send_opt(s, OPT_INFO, b"\0\0")
opt, rtype, _ = recv_opt_reply(s)
check(rtype == ERR_INVALID, "INFO with short payload -> ERR_INVALID (got 0x%x)" % rtype)
# name length pointing past the option's end -> ERR_INVALID.
send_opt(s, OPT_GO, struct.pack(">I", 1000) + b"abc" + struct.pack(">H", 0))
opt, rtype, _ = recv_opt_reply(s)
check(rtype == ERR_INVALID, "GO with bad name length -> ERR_INVALID (got 0x%x)" % rtype)
# Still negotiating: GO works.
check(go(s) == SIZE, "GO after errors gives the export size")
d = read(s, 0, 512)
check(d == bytes(512), "read after handshake errors")
s.close()

# Option with a huge length: rejected (error reply) or disconnected, quickly.
s = connect()
greet(s)
send_opt_hdr = struct.pack(">QII", IHAVEOPT, 0x4242, 0xfffffff0)
s.sendall(send_opt_hdr)
s.settimeout(10)
try:
    opt, rtype, _ = recv_opt_reply(s)
    check(rtype & 0x80000000, "huge option -> error reply 0x%x" % rtype)
except (EOF, ConnectionResetError):
    check(True, "huge option -> disconnect")
except socket.timeout:
    check(False, "huge option: server neither replied nor disconnected in 10 s")
s.close()
s = connect()
greet(s)
s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 0x7ffffff0) + b"\0" * 100)
s.settimeout(10)
try:
    opt, rtype, _ = recv_opt_reply(s)
    check(rtype & 0x80000000, "huge GO option -> error reply 0x%x" % rtype)
except (EOF, ConnectionResetError):
    check(True, "huge GO option -> disconnect")
except socket.timeout:
    check(False, "huge GO option: server neither replied nor disconnected in 10 s")
s.close()
fresh_ok("huge option lengths")

# Truncated handshakes: close at every stage.
for stage in range(6):
    s = connect()
    if stage >= 1:
        recvall(s, 18)
    if stage == 2:
        s.sendall(b"\0\0")                      # half the client flags
    if stage >= 3:
        s.sendall(struct.pack(">I", 3))
    if stage == 4:
        s.sendall(struct.pack(">Q", IHAVEOPT) + b"\0\0")   # half an option header
    if stage == 5:
        s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 100) + b"\0" * 10)
    s.close()
fresh_ok("truncated handshakes")

# Bad option magic -> disconnect.
s = connect()
greet(s)
s.sendall(struct.pack(">QII", 0x1122334455667788, OPT_GO, 0))
check(expect_eof(s), "bad option magic -> disconnect")
s.close()

# NBD_OPT_ABORT: the server acks (or just closes) and closes.
s = connect()
greet(s)
send_opt(s, OPT_ABORT)
try:
    opt, rtype, _ = recv_opt_reply(s)
    check(rtype == REP_ACK, "ABORT -> ACK")
except EOF:
    check(True, "ABORT -> close")
check(expect_eof(s), "ABORT closes the connection")
s.close()

# Old NBD_OPT_EXPORT_NAME: size, flags, 124 zero bytes unless NO_ZEROES.
for flags, tail in ((1, 124), (3, 0)):
    s = connect()
    greet(s, flags)
    send_opt(s, OPT_EXPORT_NAME, b"")
    size, tflags = struct.unpack(">QH", recvall(s, 10))
    zeros = recvall(s, tail) if tail else b""
    check(size == SIZE and zeros == bytes(tail),
          "EXPORT_NAME (client flags %d) size and padding" % flags)
    check(read(s, 0, 512) == bytes(512), "read after EXPORT_NAME")
    s.close()

# ---------------- transmission ----------------
s = connect()
greet(s)
go(s)

# Unknown command -> EINVAL, connection continues.
request(s, 99, 0, 512, 0xabc)
err, h = simple_reply(s)
check(err == EINVAL and h == 0xabc, "unknown command -> EINVAL (got %d)" % err)
check(read(s, 0, 512) == bytes(512), "read after unknown command")

# Write past the end: payload consumed, ENOSPC, framing preserved.
request(s, CMD_WRITE, SIZE - 512, 4096, 0x77, payload=b"\xee" * 4096)
err, h = simple_reply(s)
check(err == ENOSPC and h == 0x77, "write past end -> ENOSPC (got %d)" % err)
check(read(s, SIZE - 4096, 4096) == bytes(4096), "framing kept after bad write")

# Pipelined: two writes and a read in one send; all answered, right handles.
pkt = b""
for i, off in enumerate((8192, 12288)):
    pkt += struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, 100 + i, off, 4096) + bytes([i + 1]) * 4096
pkt += struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_FLUSH, 102, 0, 0)
s.sendall(pkt)
hs = sorted(simple_reply(s) for _ in range(3))
check(hs == [(0, 100), (0, 101), (0, 102)], "pipelined requests all answered: %r" % hs)
check(read(s, 8192, 8192) == b"\x01" * 4096 + b"\x02" * 4096, "pipelined writes landed")

# Oversized read (100 MiB, above the 32M default maximum payload, no
# payload from the client): either served, or refused with EINVAL /
# EOVERFLOW; in both cases the connection continues.
request(s, CMD_READ, 0, 100 * M, 0x55)
err, h = simple_reply(s)
check(h == 0x55, "oversized read: handle")
if err == 0:
    print("note: 100 MiB read was served")
    recvall(s, 100 * M)
else:
    check(err in (EINVAL, EOVERFLOW), "oversized read -> EINVAL/EOVERFLOW (got %d)" % err)
check(read(s, 8192, 4096) == b"\x01" * 4096, "framing kept after oversized read")

# Oversized write payload (100 MiB): an error reply with framing preserved
# (EOVERFLOW or EINVAL), or a clean disconnect.  Never a crash, never data.
def sender(sock, n):
    try:
        chunk = b"\xab" * M
        for _ in range(n):
            sock.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
        pass
request(s, CMD_WRITE, 0, 100 * M, 0x66)
t = threading.Thread(target=sender, args=(s, 100))
t.start()
s.settimeout(60)
try:
    err, h = simple_reply(s)
    t.join()
    check(h == 0x66 and err in (EINVAL, EOVERFLOW),
          "oversized write -> EINVAL/EOVERFLOW (got %d)" % err)
    check(read(s, 8192, 4096) == b"\x01" * 4096, "framing kept after oversized write")
except (EOF, ConnectionResetError):
    t.join()
    check(True, "oversized write -> disconnect")
except socket.timeout:
    check(False, "oversized write: no reply and no disconnect within 60 s")
s.close()
fresh_ok("oversized write")

# No data from the oversized write reached the disk.
s = connect(); greet(s); go(s)
check(read(s, 0, 4096) == bytes(4096) and read(s, 16384, 65536) == bytes(65536),
      "oversized write left no data behind")

# Bad request magic -> disconnect.
s.sendall(struct.pack(">IHHQQI", 0xdeadbeef, 0, CMD_READ, 1, 0, 512))
check(expect_eof(s), "bad request magic -> disconnect")
s.close()
fresh_ok("bad request magic")

# Truncated request header, then close.
s = connect(); greet(s); go(s)
s.sendall(struct.pack(">IHH", REQ_MAGIC, 0, CMD_READ))
s.close()
# Write header with only part of its payload, then close.
s = connect(); greet(s); go(s)
request(s, CMD_WRITE, M, 65536, 9, payload=b"\xcd" * 1000)
s.close()
fresh_ok("truncated requests")
s = connect(); greet(s); go(s)
d = read(s, M, 65536)
check(d == bytes(65536), "truncated write left no data behind (%d nonzero bytes)"
      % sum(1 for b in d if b))

# NBD_CMD_DISC: the server closes the connection.
request(s, CMD_DISC, 0, 0, 2)
check(expect_eof(s), "DISC -> server closes")
s.close()

# Many connections opened and dropped at once.
socks = [connect() for _ in range(50)]
for x in socks:
    x.close()
fresh_ok("50 dropped connections")

if failures:
    print("\n%d FAILURES:\n  %s" % (len(failures), "\n  ".join(failures)))
    sys.exit(1)
PYEOF
server_alive "$pid"
echo "$0: ok"
