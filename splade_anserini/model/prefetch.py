"""Producing the next piece of work on a second thread while this one is consumed: reading and tokenizing texts
(Python and the tokenizer's Rust code) overlaps with the model (torch, which releases Python's lock)."""

from __future__ import annotations

import threading
from queue import Full, Queue
from typing import Iterator


def prefetch(items: Iterator, depth: int = 1) -> Iterator:
    """``items``, produced on a second thread up to ``depth`` ahead of the consumer; an exception raised while
    producing surfaces here, after the items produced before it."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as err:  # re-raised in the consumer's thread, in order
            put((None, err))

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = queue.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()
