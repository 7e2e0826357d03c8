"""Work on a second thread beside the model's: producing the next piece of work while this one is consumed (reading
and tokenizing texts: Python and the tokenizer's Rust code) and consuming finished work while the next is made
(formatting and writing vectors), overlapping with the model (torch, which releases Python's lock)."""

from __future__ import annotations

import threading
from queue import Empty, Full, Queue
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


class Background:
    """``consume(item)`` for each item put, in order, on a second thread, at most ``depth`` items behind; used as a
    context manager. Leaving the block normally waits for every item to be consumed; leaving it with an exception
    drops what was not consumed yet. An exception raised while consuming is raised again in the caller's thread, by
    the next :meth:`put` or at the end of the block."""

    def __init__(self, consume, depth: int = 2):
        self._consume = consume
        self._queue: Queue = Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: list = []
        self._thread = threading.Thread(target=self._run, name="background", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.1)
            except Empty:
                continue
            if item is _END:
                return
            try:
                self._consume(item)
            except BaseException as err:  # re-raised in the caller's thread
                self._error.append(err)
                return

    def _raise(self) -> None:
        if self._error:
            raise self._error[0]

    def put(self, item) -> None:
        while True:
            self._raise()
            if not self._thread.is_alive():
                raise RuntimeError("the background consumer stopped")
            try:
                self._queue.put(item, timeout=0.1)
                return
            except Full:
                continue

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, kind, error, trace):
        if kind is None:
            self.put(_END)
            self._thread.join()
            self._raise()
        else:
            self._stop.set()
            self._thread.join()
        return False


_END = object()
