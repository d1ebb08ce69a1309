"""Deterministic byte streams, so both ends of a transfer agree on a sha256."""
import functools
import hashlib
import random

BLOCK_SIZE = 1 << 20
MB = 1 << 20


@functools.lru_cache(maxsize=1)
def pattern_block():
    """1 MiB of seeded pseudo-random bytes; streams repeat it."""
    return random.Random(0x6B6579).randbytes(BLOCK_SIZE)


def pattern_chunks(n, chunk=64 * 1024):
    """Yields the first n bytes of the repeating pattern in pieces of <= chunk."""
    block = pattern_block()
    off = 0
    while off < n:
        pos = off % BLOCK_SIZE
        take = min(chunk, n - off, BLOCK_SIZE - pos)
        yield block[pos:pos + take]
        off += take


@functools.lru_cache(maxsize=16)
def pattern_sha256(n):
    h = hashlib.sha256()
    for c in pattern_chunks(n, BLOCK_SIZE):
        h.update(c)
    return h.hexdigest()


def write_pattern_file(path, n):
    """Writes n pattern bytes to path and returns their sha256 hex."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for c in pattern_chunks(n, BLOCK_SIZE):
            f.write(c)
            h.update(c)
    return h.hexdigest()
