#!/usr/bin/env python3
"""A hostile NBD client: the denial-of-service attacks of the issue
"Hostile clients and bad input", each run against a live server, with
what it cost the server measured from /proc (CPU seconds, RSS) and how
long the server took to answer.

    hostile-client.py SOCKET SERVER-PID ATTACK [ARGS]

ATTACK is one of:
  refused-write MIB    a WRITE of MIB MiB past the end of the disk (ENOSPC):
                       the reply must come while the payload is skipped at
                       full speed, and the connection stays usable
  huge-write           a WRITE with count 0xffffffff: the server must
                       disconnect at once instead of reading 4 GiB
  pipeline SECS [HOLD] 64 MiB READs sent for SECS seconds without ever
                       reading a reply; then the client closes (after HOLD
                       more seconds, if given: time to signal the server),
                       and the server's CPU over the next 3 s is measured
  zero-length-write    a WRITE of 0 bytes (undefined behaviour once)
  idle SECS            connect and send nothing: time until the server
                       drops the connection (the handshake timeout)
  slowloris SECS       send the handshake one byte a second
  exhaust N SECS       hold N connections open (more than the server has
                       descriptors for) for SECS seconds, measuring the
                       server's CPU; then close them and check that a new
                       connection is served
  stalled-direct SECS  on written data, READs of 1 and 8 MiB whose replies
                       are never read, then an 8 MiB WRITE stalled after 1 MiB of
                       payload (the memory plugin's direct path sends and
                       receives these straight from and into its pages),
                       held SECS seconds: meanwhile another connection's
                       TRIM of the same bytes must be answered at once
                       (the stalled requests may hold no page), and then
                       read zeroes

Prints "key=value" lines (stdout) for the test to check, and exits 0
unless the attack could not even be run.  Python stdlib only.
"""
import os, socket, struct, sys, threading, time

NBDMAGIC = 0x4e42444d41474943
IHAVEOPT = 0x49484156454F5054
REQ_MAGIC = 0x25609513
SIMPLE_REPLY = 0x67446698
OPT_GO, REP_ACK, REP_INFO = 7, 1, 3
CMD_READ, CMD_WRITE, CMD_DISC, CMD_TRIM = 0, 1, 2, 4
M = 1 << 20
TICK = os.sysconf("SC_CLK_TCK")

sock_path, pid = sys.argv[1], int(sys.argv[2])
attack, args = sys.argv[3], sys.argv[4:]


def cpu():
    """Server CPU seconds (user + system), all threads."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def report(**kw):
    for k, v in kw.items():
        print("%s=%s" % (k, round(v, 3) if isinstance(v, float) else v))
    sys.stdout.flush()


def recvall(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("EOF after %d of %d bytes" % (len(buf), n))
        buf += d
    return buf


def connect(timeout=30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    return s


def handshake(s):
    recvall(s, 18)
    s.sendall(struct.pack(">I", 3))
    s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 6) + struct.pack(">IH", 0, 0))
    size = None
    while True:
        _, _, rtype, length = struct.unpack(">QIII", recvall(s, 20))
        data = recvall(s, length)
        if rtype == REP_INFO:
            if struct.unpack(">H", data[:2])[0] == 0:
                size = struct.unpack(">Q", data[2:10])[0]
        elif rtype == REP_ACK:
            return size
        else:
            raise SystemExit("GO refused: 0x%x" % rtype)


def header(cmd, offset, count, cookie):
    return struct.pack(">IHHQQI", REQ_MAGIC, 0, cmd, cookie, offset, count)


def reply(s):
    magic, err, cookie = struct.unpack(">IIQ", recvall(s, 16))
    assert magic == SIMPLE_REPLY, hex(magic)
    return err, cookie


def wait_eof(s, secs):
    """Seconds until the server closes S, or None if it does not."""
    t0 = time.monotonic()
    s.settimeout(0.2)
    while time.monotonic() - t0 < secs:
        try:
            if not s.recv(65536):
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0
    return None


def usable():
    """A new connection completes the handshake and reads 4 KiB."""
    try:
        s = connect(10)
        handshake(s)
        s.sendall(header(CMD_READ, 0, 4096, 7))
        err, _ = reply(s)
        recvall(s, 4096)
        s.sendall(header(CMD_DISC, 0, 0, 8))
        s.close()
        return err == 0
    except Exception as e:
        print("note: new connection failed: %r" % e)
        return False


def refused_write(mib):
    s = connect()
    size = handshake(s)
    c0, t0 = cpu(), time.monotonic()

    def send_payload():
        try:
            chunk = b"\xab" * M
            for _ in range(mib):
                s.sendall(chunk)
        except OSError:
            pass
    s.sendall(header(CMD_WRITE, size, mib * M, 0x11))
    t = threading.Thread(target=send_payload)
    t.start()
    err, cookie = reply(s)
    t.join()
    # The next request is answered only once the whole payload is skipped.
    s.sendall(header(CMD_READ, 0, 4096, 0x12))
    err2, _ = reply(s)
    recvall(s, 4096)
    report(error=err, framing_kept=int(err2 == 0),
           seconds=time.monotonic() - t0, server_cpu=cpu() - c0)
    s.close()


def huge_write():
    s = connect()
    handshake(s)
    c0 = cpu()
    s.sendall(header(CMD_WRITE, 0, 0xffffffff, 0x21))
    try:
        s.sendall(b"\xcd" * M)
    except OSError:
        pass
    eof = wait_eof(s, 30)
    report(disconnect_seconds=eof if eof is not None else -1,
           server_cpu=cpu() - c0, usable_after=int(usable()))


def pipeline(secs, hold=0):
    s = connect()
    handshake(s)
    rss0, c0 = rss_mib(), cpu()
    s.setblocking(False)
    hdrs = b"".join(header(CMD_READ, 0, 64 * M, i) for i in range(256))
    sent, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < secs:
        try:
            sent += s.send(hdrs)
        except BlockingIOError:
            time.sleep(0.01)
    rss1 = rss_mib()
    report(headers_sent=sent // 28, rss_mib=rss1)
    if hold:
        time.sleep(hold)
        return
    s.close()
    c1, t1 = cpu(), time.monotonic()
    time.sleep(3)
    report(rss_before_mib=rss0, cpu_while_attacked=c1 - c0, cpu_after_close=cpu() - c1,
           usable_after=int(usable()))


def zero_length_write():
    s = connect()
    handshake(s)
    s.sendall(header(CMD_WRITE, 0, 0, 0x31))
    err, cookie = reply(s)
    s.sendall(header(CMD_READ, 0, 4096, 0x32))
    err2, _ = reply(s)
    recvall(s, 4096)
    report(error=err, framing_kept=int(err2 == 0 and cookie == 0x31))


def idle(secs):
    s = connect()
    recvall(s, 18)
    eof = wait_eof(s, secs)
    report(dropped_after=eof if eof is not None else -1)


def slowloris(secs):
    s = connect()
    recvall(s, 18)
    msg = struct.pack(">I", 3) + struct.pack(">QII", IHAVEOPT, OPT_GO, 6)
    t0 = time.monotonic()
    dropped = -1
    for b in msg:
        try:
            s.sendall(bytes([b]))
        except OSError:
            dropped = time.monotonic() - t0
            break
        eof = wait_eof(s, 1)
        if eof is not None:
            dropped = time.monotonic() - t0
            break
        if time.monotonic() - t0 > secs:
            break
    report(dropped_after=dropped)


def exhaust(n, secs):
    held = []
    for _ in range(n):
        try:
            held.append(connect(2))
        except OSError:
            break
    c0 = cpu()
    time.sleep(secs)
    c1 = cpu()
    for s in held:
        s.close()
    time.sleep(1.5)
    report(connections=len(held), cpu_while_exhausted=c1 - c0,
           usable_after=int(usable()))


def stalled_direct(secs):
    a = connect()
    handshake(a)
    a.sendall(header(CMD_WRITE, 0, 8 * M, 0x51) + b"\x5a" * (8 * M))
    err, _ = reply(a)
    assert err == 0, err
    # 1 MiB: the reader begins the reply itself and hands it to a worker
    # when the client does not read; 8 MiB: a worker's from the start.
    a.sendall(header(CMD_READ, 0, M, 0x56))
    a.sendall(header(CMD_READ, 0, 8 * M, 0x52))
    a.sendall(header(CMD_WRITE, 0, 8 * M, 0x53) + b"\xa5" * M)
    time.sleep(0.5)
    b = connect(10)
    handshake(b)
    t0 = time.monotonic()
    b.sendall(header(CMD_TRIM, 0, 8 * M, 0x54))
    err, _ = reply(b)
    trim_seconds = time.monotonic() - t0
    b.sendall(header(CMD_READ, 0, 4096, 0x55))
    err2, _ = reply(b)
    data = recvall(b, 4096)
    time.sleep(max(0.0, secs - (time.monotonic() - t0)))
    a.close()
    time.sleep(0.5)
    report(trim_error=err, trim_seconds=trim_seconds,
           zeroes_after=int(err2 == 0 and data == bytes(4096)),
           usable_after=int(usable()))
    b.close()


if attack == "refused-write":
    refused_write(int(args[0]))
elif attack == "huge-write":
    huge_write()
elif attack == "pipeline":
    pipeline(float(args[0]), float(args[1]) if len(args) > 1 else 0)
elif attack == "zero-length-write":
    zero_length_write()
elif attack == "idle":
    idle(float(args[0]))
elif attack == "slowloris":
    slowloris(float(args[0]))
elif attack == "stalled-direct":
    stalled_direct(float(args[0]))
elif attack == "exhaust":
    exhaust(int(args[0]), float(args[1]))
else:
    raise SystemExit("unknown attack " + attack)
