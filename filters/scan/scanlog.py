# Helpers for the scan tests: read the log filter's file and work out
# which byte ranges each connection read.
import os, re, time

READ = re.compile(r"connection=(\d+) Read id=\d+ offset=0x([0-9a-f]+) "
                  r"count=0x([0-9a-f]+)")
REPLY = re.compile(r"connection=(\d+) \.\.\.Read id=\d+ return=0")
DISC = re.compile(r"connection=(\d+) Disconnect")

def parse(path):
    """Returns ({connection: [(offset, count), ...]}, set of connections
    that disconnected)."""
    reads, gone = {}, set()
    with open(path) as f:
        for line in f:
            m = READ.search(line)
            if m:
                reads.setdefault(int(m.group(1)), []).append(
                    (int(m.group(2), 16), int(m.group(3), 16)))
            m = DISC.search(line)
            if m:
                gone.add(int(m.group(1)))
    return reads, gone

def covered(ranges, size):
    """Whether the ranges cover [0, size) completely."""
    pos = 0
    for off, n in sorted(ranges):
        if off > pos:
            return False
        pos = max(pos, off + n)
    return pos >= size

def wait_for(cond, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False
