#!/usr/bin/env python3
"""fuzz/strip-core.py CORE OUT: a corpus core as a sparse core, the seed format of the
walker fuzz targets - the same process in a few hundred KB instead of tens of MB.

A sparse core is an ELF core whose zero pages are not written: each PT_LOAD keeps its
address, size and permissions, and its bytes are described by pieces, the first
in the PT_LOAD itself and the rest in the PT_LOADs that follow it with p_paddr
PIECE_DATA (bytes in the file) or PIECE_ZERO (p_memsz zero bytes, nothing in the
file).  fuzz/common.c expands it back into the core it came from, byte for byte
(a page the kernel left as a hole in the file reads as zeros there too), before
the library opens it; read as a plain core (the core target, cprof-core itself) it
is a core whose zero runs are segments of their own that the core does not hold.

Pieces of zeros are made for runs of whole zero pages of at least ZERO_RUN pages;
data pieces stay 16-byte aligned with their addresses."""

import struct
import sys

PAGE = 4096
ZERO_RUN = 1           # pages
PT_LOAD, PT_NOTE = 1, 4
PIECE_DATA, PIECE_ZERO = 0x5044, 0x505a     # p_paddr of a continuation ("DP", "ZP")


def phdrs(data):
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        yield struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)


def pieces(held):
    """(bytes or None, size) pieces of a segment's held bytes: None = zeros."""
    out, i, run = [], 0, 0
    n = len(held)
    while i < n:
        j = i
        while j < n and j + PAGE <= n and not any(held[j:j + PAGE]):
            j += PAGE
        if j - i >= ZERO_RUN * PAGE:
            if i > run:
                out.append((held[run:i], i - run))
            out.append((None, j - i))
            run = i = j
        else:
            i += PAGE
    if n > run:
        out.append((held[run:n], n - run))
    return out


def strip(data):
    notes, loads = [], []
    for p_type, flags, offset, vaddr, paddr, filesz, memsz, align in phdrs(data):
        if p_type == PT_NOTE:
            notes.append((flags, data[offset:offset + filesz], align))
        elif p_type == PT_LOAD:
            held = data[offset:offset + min(filesz, memsz)]
            ps = pieces(held) or [(b"", 0)]
            addr = vaddr
            for k, (chunk, size) in enumerate(ps):
                if k == 0:
                    first = chunk if chunk is not None else b""
                    loads.append((flags, vaddr, 0, first, memsz))
                    if chunk is None:       # a segment that starts with zeros
                        loads.append((flags, addr, PIECE_ZERO, None, size))
                else:
                    loads.append((flags, addr, PIECE_ZERO if chunk is None else PIECE_DATA,
                                  chunk, size))
                addr += size
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
    for flags, addr, kind, chunk, size in loads:
        if chunk is None:
            ph.append((PT_LOAD, flags, len(out), addr, kind, 0, size, PAGE))
            continue
        while len(out) % 16 != addr % 16:
            out.append(0)
        ph.append((PT_LOAD, flags, len(out), addr, kind, len(chunk),
                   size if kind == 0 else len(chunk), PAGE))
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
