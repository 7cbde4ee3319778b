#!/usr/bin/env python3
"""gosym.py - what a stripped Go program spent its CPU on, from `perf` samples (not part of the tests).

usage: perf script -i perf.data -F ip,dso | bench/gosym.py BINARY [TOP] [--groups]

Debian's docker-registry is stripped, so `perf report` shows bare addresses. A Go binary keeps
its function table (`.gopclntab`, the table the runtime itself uses for stack traces) even when
stripped: this reads it (the Go 1.18+ layout: magic, pointer size, function count, text start,
name table offset, function table offset), maps every sample's address in BINARY to its function,
and prints the TOP (40) functions by share of the samples. With --groups it also sums them into
a few groups: regular expressions (regexp/...), garbage collection and allocation (runtime's GC
and malloc), SHA-256, memory copies, the rest. Samples in the kernel or other objects are counted
apart. perf gives addresses of a non-PIE binary as offsets from its load address (0x400000).
"""
import bisect
import collections
import struct
import subprocess
import sys

GROUPS = [
    ("regular expressions (compiled per request)", ("regexp",)),
    ("garbage collection and allocation", (
        "runtime.scanobject", "runtime.findObject", "runtime.greyobject", "runtime.heapBitsSetType",
        "runtime.gcDrain", "runtime.scanblock", "runtime.markBits", "runtime.(*gcWork)",
        "runtime.sweep", "runtime.(*sweepLocked)", "runtime.(*mspan)", "runtime.(*mheap)",
        "runtime.(*mcentral)", "runtime.(*mcache)", "runtime.mallocgc", "runtime.newobject",
        "runtime.memclrNoHeapPointers", "runtime.(*spanSet)", "runtime.(*spanSetBlockAlloc)",
        "runtime.gcmarknewobject", "runtime.bulkBarrier", "runtime.gcWriteBarrier", "runtime.wbBuf",
        "runtime.growslice", "runtime.makeslice", "runtime.markroot", "runtime.gcBgMarkWorker",
        "runtime.(*gcControllerState)", "runtime.sweepone", "runtime.(*pageAlloc)")),
    ("SHA-256", ("crypto/sha256",)),
    ("memory copies", ("runtime.memmove",)),
]


def functions(binary):
    """(entry addresses, names) of every function in BINARY's .gopclntab, sorted."""
    data = open(binary, "rb").read()
    sections = subprocess.check_output(["readelf", "-SW", binary]).decode()
    for line in sections.splitlines():
        if ".gopclntab" in line:
            fields = line.split("]", 1)[1].split()
            offset, size = int(fields[3], 16), int(fields[4], 16)
            break
    else:
        sys.exit(f"gosym: {binary} has no .gopclntab (not a Go binary?)")
    table = data[offset:offset + size]
    word = lambda at: struct.unpack_from("<Q", table, at)[0]
    count, text_start, names_at, funcs_at = word(8), word(24), word(32), word(64)
    entries = []
    for i in range(count):
        entry, func = struct.unpack_from("<II", table, funcs_at + 8 * i)
        (name_off,) = struct.unpack_from("<i", table, funcs_at + func + 4)
        start = names_at + name_off
        entries.append((text_start + entry, table[start:table.index(b"\0", start)].decode()))
    entries.sort()
    return [e[0] for e in entries], [e[1] for e in entries]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        sys.exit(__doc__.strip().splitlines()[2])
    binary, top = args[0], int(args[1]) if len(args) > 1 else 40
    starts, names = functions(binary)
    counts, other, total = collections.Counter(), collections.Counter(), 0
    for line in sys.stdin:
        fields = line.split()
        if len(fields) < 2:
            continue
        total += 1
        dso = fields[-1].strip("()")
        if not dso.endswith(binary.rsplit("/", 1)[-1]):
            other[dso] += 1
            continue
        ip = int(fields[0], 16)
        ip = ip + 0x400000 if ip < 0x400000 else ip
        i = bisect.bisect_right(starts, ip) - 1
        counts[names[i] if i >= 0 else "?"] += 1
    if not total:
        sys.exit("gosym: no samples on stdin")
    print(f"{total} samples; outside the binary: " + ", ".join(f"{d} {100 * n / total:.1f}%" for d, n in other.most_common()))
    for name, n in counts.most_common(top):
        print(f"{100 * n / total:6.2f}% {name}")
    if "--groups" in sys.argv:
        sums = collections.Counter()
        for name, n in counts.items():
            group = next((g for g, prefixes in GROUPS if name.startswith(prefixes)), "the rest of the registry")
            sums[group] += n
        print("groups (share of all samples):")
        for group, n in sums.most_common():
            print(f"{100 * n / total:6.2f}% {group}")


main()
