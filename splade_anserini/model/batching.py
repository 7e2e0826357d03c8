"""How texts form model batches, so that a text's vector never depends on the texts it is batched with.

The transformer's floats depend on the padded length of a text's batch. Each text is therefore padded to its own
length bucket (its token count rounded up to a multiple of :data:`LENGTH_BUCKET`), and a batch holds texts of one
bucket only; on the CPU the rows of such a batch are computed independently of one another and of the thread count
(``tests/test_batch_invariance.py``). Within a window of texts, sorting by length keeps padding small.
"""

from __future__ import annotations

import itertools
from typing import Sequence

# Texts are padded to a multiple of this many tokens, a length that depends on the text alone. Part of what
# determines the output bit for bit: changing it moves some weights by one unit.
LENGTH_BUCKET = 16
# Texts are sorted by length within windows of this many batches: larger windows fill batches of one length bucket
# better, at the cost of more texts in memory.
WINDOW_BATCHES = 16


def bucket_length(tokens: int) -> int:
    """The padded length of a text of ``tokens`` tokens."""
    return -(-tokens // LENGTH_BUCKET) * LENGTH_BUCKET


def plan_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches of indices into ``lengths`` (token counts): sorted by length so little padding is computed, each
    batch within one length bucket and at most ``batch_size`` long."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list = []
    for _, members in itertools.groupby(order, key=lambda i: bucket_length(lengths[i])):
        members = list(members)
        batches += [members[start:start + batch_size] for start in range(0, len(members), batch_size)]
    return batches
