# Writes a GPT disk image with 4096-byte sectors (sfdisk here cannot make
# one): IMAGE SIZE then START:LENGTH pairs in sectors.  Headers at LBA 1
# and the last LBA, entry arrays after the primary and before the backup.
import struct, sys, uuid, zlib

SS = 4096
image, size = sys.argv[1], int(sys.argv[2])
parts = [tuple(int(x) for x in a.split(":")) for a in sys.argv[3:]]
n_entries, entry_size = 128, 128
array_sectors = n_entries * entry_size // SS
last = size // SS - 1

array = bytearray(n_entries * entry_size)
linux = uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4").bytes_le
for i, (start, length) in enumerate(parts):
    array[i * 128:(i + 1) * 128] = struct.pack(
        "<16s16sQQQ72s", linux, uuid.uuid4().bytes_le, start,
        start + length - 1, 0, "p{}".format(i + 1).encode("utf-16-le"))
array_crc = zlib.crc32(array)

def header(my_lba, alt_lba, entries_lba):
    h = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0,
                    my_lba, alt_lba, 2 + array_sectors,
                    last - 1 - array_sectors, uuid.uuid4().bytes_le,
                    entries_lba, n_entries, entry_size, array_crc)
    crc = zlib.crc32(h)
    return h[:16] + struct.pack("<I", crc) + h[20:]

mbr = bytearray(512)
mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\0\x02\0", 0xee, b"\xff" * 3,
                           1, min(size // SS - 1, 0xffffffff))
mbr[510:512] = b"\x55\xaa"
with open(image, "r+b") as f:
    f.write(mbr)
    f.seek(SS); f.write(header(1, last, 2))
    f.seek(2 * SS); f.write(array)
    f.seek((last - array_sectors) * SS); f.write(array)
    f.seek(last * SS); f.write(header(last, 1, last - array_sectors))
