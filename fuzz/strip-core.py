#!/usr/bin/env python3
"""fuzz/strip-core.py CORE OUT [--max-bytes N]: a seed for the fuzz targets from a
corpus core - the same process in far fewer bytes.

The ELF header and the notes are kept as they are; every PT_LOAD keeps its address,
size and permissions, but runs of 64 or more zero pages in the bytes the core holds
are left out (their own PT_LOAD with p_filesz 0: memory the core does not hold, as
a MADV_DONTDUMP or truncated mapping is), so that a core of 80 MB of mostly
untouched stacks and heap reserves becomes a seed of a few hundred KB whose heap
metadata, stacks' used parts, modules' first pages and data are those of the
real core.  Segment data stay 16-byte aligned with their addresses."""

import struct
import sys

PAGE = 4096
ZERO_RUN = 64          # pages: shorter runs of zeros are kept as bytes
PT_LOAD, PT_NOTE = 1, 4


def phdrs(data):
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        yield struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)


def pieces(data, vaddr, offset, filesz, memsz):
    """(vaddr, bytes or None, size) pieces of one PT_LOAD: None = left out."""
    held = data[offset:offset + filesz]
    out, run_start, pos = [], 0, 0
    zero_page = bytes(PAGE)
    npages = (len(held) + PAGE - 1) // PAGE
    i = 0
    while i < npages:
        j = i
        while j < npages and held[j * PAGE:(j + 1) * PAGE] == zero_page[:len(held[j * PAGE:(j + 1) * PAGE])]:
            j += 1
        if j - i >= ZERO_RUN:
            if i * PAGE > run_start:
                out.append((vaddr + run_start, held[run_start:i * PAGE], i * PAGE - run_start))
            out.append((vaddr + i * PAGE, None, (j - i) * PAGE))
            run_start = j * PAGE
            i = j
        else:
            i = j + 1 if j == i else j
    end = min(len(held), memsz)
    if end > run_start:
        out.append((vaddr + run_start, held[run_start:end], end - run_start))
    tail = max(memsz, len(held)) - max(end, run_start)
    if memsz > max(end, run_start):
        # declared but not held (filesz < memsz): left out as the core had it
        last = max(end, run_start)
        out.append((vaddr + last, None, memsz - last))
    return out


def strip(data):
    notes, loads = [], []
    for p_type, flags, offset, vaddr, paddr, filesz, memsz, align in phdrs(data):
        if p_type == PT_NOTE:
            notes.append((flags, data[offset:offset + filesz], align))
        elif p_type == PT_LOAD:
            for addr, chunk, size in pieces(data, vaddr, offset, filesz, memsz):
                loads.append((flags, addr, chunk, size))
    n = len(notes) + len(loads)
    out = bytearray(data[:64])
    struct.pack_into("<QQ", out, 32, 64, 0)            # e_phoff, e_shoff
    struct.pack_into("<HHHH", out, 54, 56, n, 0, 0)    # phentsize, phnum, shentsize, shnum
    struct.pack_into("<H", out, 62, 0)                 # e_shstrndx
    out += bytes(56 * n)
    ph = []
    for flags, body, align in notes:
        ph.append((PT_NOTE, flags, len(out), 0, 0, len(body), 0, align))
        out += body
    for flags, addr, chunk, size in loads:
        if chunk is None:
            ph.append((PT_LOAD, flags, len(out), addr, 0, 0, size, PAGE))
            continue
        while len(out) % 16 != addr % 16:
            out.append(0)
        ph.append((PT_LOAD, flags, len(out), addr, 0, len(chunk), size, PAGE))
        out += chunk
    for i, p in enumerate(ph):
        struct.pack_into("<IIQQQQQQ", out, 64 + 56 * i, *p)
    return bytes(out)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    with open(sys.argv[2], "wb") as f:
        f.write(strip(data))


if __name__ == "__main__":
    main()
