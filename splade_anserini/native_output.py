"""Output of native code (Java, PISA's C++) sent to a log file instead of the terminal.

Native code writes to the process's file descriptors 1 and 2, below Python's streams, so those descriptors are
redirected while a block runs (Python's own output in the block goes there too), and the native side's buffers are
flushed before they are restored.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Callable


@contextlib.contextmanager
def redirected(log: Path | None, flush_native: Callable[[], None]):
    """Descriptors 1 and 2 appended to ``log`` while the block runs; ``None`` leaves them on the terminal.
    ``flush_native()`` empties the native side's buffers before the descriptors are restored."""
    if log is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(log, "ab") as target:
            os.dup2(target.fileno(), 1)
            os.dup2(target.fileno(), 2)
            try:
                yield
            finally:
                flush_native()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)
