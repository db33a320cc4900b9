#!/usr/bin/env python3
"""Shows how much the kernel writes to disk for one 4 KiB page rewritten and synced, depending on how
the page's region was first written: the page cache keeps the folio size of the first write, and a
dirty folio is written back whole. LMDB writes runs of contiguous new pages with one pwritev, so on a
kernel with large page-cache folios (Linux 6.16+ on ext4) a later one-page update of such a run can
cost tens of KiB to MiBs of `write_bytes`, while crmd passed 4 KiB to pwrite (see docs/PERFORMANCE.md).

Usage: scripts/folio-amplification.py [DIRECTORY]   (default: $TMPDIR or /tmp; the file is removed)
"""
import os
import random
import sys
import tempfile


def write_bytes() -> int:
    with open("/proc/self/io") as io:
        for line in io:
            if line.startswith("write_bytes"):
                return int(line.split()[1])
    raise SystemExit("no write_bytes in /proc/self/io")


def cost_of_page_updates(directory: str, first_write: int, size: int = 64 << 20, updates: int = 200) -> float:
    """write_bytes per 4 KiB pwrite + fdatasync into a file first written in `first_write`-byte writes."""
    fd, path = tempfile.mkstemp(dir=directory)
    try:
        chunk = os.urandom(first_write)
        for offset in range(0, size, first_write):
            os.pwrite(fd, chunk, offset)
        os.fdatasync(fd)
        before = write_bytes()
        rng = random.Random(1)
        for _ in range(updates):
            os.pwrite(fd, os.urandom(4096), rng.randrange(size // 4096) * 4096)
            os.fdatasync(fd)
        return (write_bytes() - before) / updates
    finally:
        os.close(fd)
        os.unlink(path)


def main() -> None:
    directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()
    print(f"kernel {os.uname().release}, files in {directory}")
    print("first written in   bytes written to disk per 4 KiB page update")
    for first_write in (4096, 16384, 65536, 262144, 1048576):
        cost = cost_of_page_updates(directory, first_write)
        print(f"{first_write:>10} B   {cost:>12,.0f} B  ({cost / 4096:.0f}×)")


if __name__ == "__main__":
    main()
