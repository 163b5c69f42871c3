# blockkit fuzzing: writes the seed corpus of fuzz-transmission into
# the directory given: one file per session, a mode byte (see
# fuzz-transmission.c) then NBD requests, valid ones as clients send
# them and some that break the rules in the ways the spec names.
import os, struct, sys

out = sys.argv[1]
MAGIC = 0x25609513
READ, WRITE, DISC, FLUSH, TRIM, CACHE, WRITE_ZEROES, BLOCK_STATUS = \
    0, 1, 2, 3, 4, 5, 6, 7
FUA, NO_HOLE, DF, REQ_ONE, FAST_ZERO = 1, 2, 4, 8, 16
cookie = 0

def req(cmd, offset=0, length=0, flags=0, payload=b"", magic=MAGIC):
    global cookie
    cookie += 1
    return struct.pack(">IHHQQI", magic, flags, cmd, cookie, offset,
                       length) + payload

def seed(name, mode, *requests):
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([mode]) + b"".join(requests))

rw = [req(WRITE, 4096, 512, 0, b"\x55" * 512), req(READ, 4096, 512),
      req(FLUSH), req(TRIM, 8192, 4096), req(CACHE, 0, 65536),
      req(WRITE_ZEROES, 0, 4096, NO_HOLE), req(DISC)]
seed("simple-rw", 0, *rw)
seed("structured-rw", 1, *rw)
seed("structured-df-read", 1, req(READ, 0, 65536, DF), req(DISC))
seed("block-status", 3, req(BLOCK_STATUS, 0, 1 << 20),
     req(BLOCK_STATUS, 4096, 4096, REQ_ONE), req(DISC))
seed("export-name", 4, req(READ, 0, 512), req(DISC))
seed("readonly-write", 8 | 1, req(WRITE, 0, 512, FUA, b"\0" * 512),
     req(TRIM, 0, 512), req(READ, 0, 512), req(DISC))
seed("fua-fast-zero", 1, req(WRITE, 0, 512, FUA, b"\1" * 512),
     req(WRITE_ZEROES, 0, 65536, FAST_ZERO), req(DISC))
seed("past-end", 1, req(READ, (1 << 20) - 512, 1024),
     req(WRITE, 1 << 20, 512, 0, b"\2" * 512),
     req(READ, (1 << 64) - 512, 1024), req(DISC))
seed("bad-flags-cmd", 1, req(READ, 0, 512, 0x8000), req(99, 0, 512),
     req(FLUSH, 0, 512), req(BLOCK_STATUS, 0, 512), req(DISC))
seed("zero-length", 1, req(READ, 0, 0), req(WRITE, 0, 0),
     req(TRIM, 0, 0), req(DISC))
seed("bad-magic", 0, req(READ, 0, 512, magic=0x12345678))
seed("huge-write", 1, req(WRITE, 0, 0xffffffff, 0, b"\3" * 1024))
seed("unaligned", 0, req(READ, 1, 3), req(WRITE, 511, 2, 0, b"ab"),
     req(DISC))
seed("no-disc", 3, req(READ, 0, 512), req(BLOCK_STATUS, 0, 65536))
