"""Progress bars: on a terminal only, unless asked."""

from __future__ import annotations


def bar_disabled(progress: bool | None) -> bool | None:
    """tqdm's ``disable`` for a stage's ``progress`` argument: True shows a bar, False never does, None (the
    default) shows one only where stderr is a terminal (tqdm's own test), so logs and pipes get none."""
    return None if progress is None else not progress
