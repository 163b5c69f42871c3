# Shared by the partition tests: serve each partition of IMAGE (already
# partitioned with sfdisk) through the partition filter, check its size,
# write distinct data at its start and end, and check that exactly those
# bytes changed in the image file.
#
#   check-partitions.py IMAGE SERVER-CMD-PREFIX...
# The partition table comes from `sfdisk -J IMAGE`.
import json, os, re, subprocess, sys

def data(num, size):
    head = ("part%d-head|" % num).encode() * 64
    tail = ("part%d-tail|" % num).encode() * 64
    return head, tail, size - len(tail)

if sys.argv[1] == "--client":
    import nbd
    num, size = int(sys.argv[2]), int(sys.argv[3])
    head, tail, tail_off = data(num, size)
    h = nbd.NBD()
    h.connect_uri(os.environ["uri"])
    assert h.get_size() == size, (num, h.get_size())
    h.pwrite(head, 0)
    h.pwrite(tail, tail_off)
    h.flush()
    assert h.pread(len(head), 0) == head
    h.shutdown()
    sys.exit(0)

image = sys.argv[1]
server = sys.argv[2:]
table = json.loads(subprocess.check_output(["sfdisk", "-J", image]))
table = table["partitiontable"]
ss = table.get("sectorsize", 512)
before = open(image, "rb").read()
expect = bytearray(before)

checked = 0
for p in table["partitions"]:
    num = int(re.search(r"(\d+)$", p["node"]).group(1))
    if p.get("type") in ("5", "f", "85"):
        continue                      # the extended container
    start, size = p["start"] * ss, p["size"] * ss
    head, tail, tail_off = data(num, size)
    # The client runs as the server's --run command (this script again,
    # in client mode), so the server's lifetime is bounded by it.
    subprocess.check_call(server + ["partition=%d" % num, "--run",
                                    "%s %s --client %d %d" %
                                    (sys.executable, sys.argv[0], num, size)])
    out = subprocess.check_output(server + ["partition=%d" % num, "--run",
                                            "nbdinfo --size \"$uri\""])
    assert int(out) == size, "nbdinfo --size for partition %d" % num
    expect[start:start + len(head)] = head
    expect[start + tail_off:start + size] = tail
    checked += 1

after = open(image, "rb").read()
assert len(after) == len(before)
if after != bytes(expect):
    diff = next(i for i in range(len(after)) if after[i] != expect[i])
    raise AssertionError("image differs from the expected bytes at %d" % diff)
print("checked %d partitions" % checked)
