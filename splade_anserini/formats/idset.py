"""A set of document ids in bounded memory, for the duplicate-id check of an encoding.

A Python set of 8.8M MS MARCO ids takes over 600 MB; here each id is a 95-bit digest (12 bytes: two different ids
share one with a probability of about 1e-15 at that size) kept in a sorted array, with recent ids in a small set
that is merged into the array from time to time: about 110 MB at 8.8M ids, twice that while a merge copies it.
"""

from __future__ import annotations

import hashlib

import numpy

DIGEST = 12
# Ids held in the small set before it is merged into the sorted array: merging costs a pass over the array, so
# larger means fewer passes; smaller means less memory in the set.
MERGE_EVERY = 1 << 17


def _digest(doc_id: str) -> bytes:
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=DIGEST).digest()
    # numpy's fixed-size bytes drop trailing NUL bytes: a last byte that is never 0 keeps every digest whole
    return digest[:-1] + bytes([digest[-1] | 1])


class IdSet:
    """``add(doc_id)`` returns False when the id was added before."""

    def __init__(self):
        self._sorted = numpy.empty(0, dtype=f"S{DIGEST}")
        self._recent: set = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def __contains__(self, doc_id: str) -> bool:
        return self._has(_digest(doc_id))

    def _has(self, digest: bytes) -> bool:
        if digest in self._recent:
            return True
        position = numpy.searchsorted(self._sorted, digest)
        return bool(position < len(self._sorted) and self._sorted[position] == digest)

    def add(self, doc_id: str) -> bool:
        digest = _digest(doc_id)
        if self._has(digest):
            return False
        self._recent.add(digest)
        if len(self._recent) >= MERGE_EVERY:
            recent = numpy.array(sorted(self._recent), dtype=f"S{DIGEST}")
            self._sorted = numpy.insert(self._sorted, numpy.searchsorted(self._sorted, recent), recent)
            self._recent = set()
        return True
