"""Temporary files that are removed however the process is told to stop.

The spool holds a full copy of every receipt read. A `with` block removes it when the
run ends or fails, but SIGTERM (`timeout`, `systemctl stop`, `kubectl delete`) ends a
Python process without unwinding anything, and SIGINT is only seen between bytecodes.
While a temporary file is registered here, SIGTERM, SIGHUP and SIGINT first remove every
registered file, then do what they did before: the default action (the process dies of
the signal, as a supervisor expects), or the previous handler (SIGINT's
`KeyboardInterrupt`, so the CLI still exits 130).

Handlers can only be installed from the main thread; from another thread the files are
still removed by their owner's `with` block. A forked worker inherits the handlers but
never removes its parent's files.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["forget", "interrupted", "register", "signals_held", "unlink_all"]

_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_Handler = Callable[[int, FrameType | None], Any] | int | None

_lock = threading.Lock()
_paths: set[Path] = set()
_owner = os.getpid()
_previous: dict[int, _Handler] = {}
_interrupted = False  # a SIGINT arrived while a file was registered


def register(path: Path) -> None:
    """Remove `path` if the process is stopped by a signal before `forget(path)`."""
    global _owner  # noqa: PLW0603 - one registry per process
    with _lock:
        if os.getpid() != _owner:  # a forked child starts with none of its parent's files
            _paths.clear()
            _previous.clear()
            _owner = os.getpid()
        _paths.add(path)
        if not _previous and threading.current_thread() is threading.main_thread():
            for number in _SIGNALS:
                previous = signal.signal(number, _on_signal)
                if previous == signal.SIG_IGN:  # an ignored signal stays ignored
                    signal.signal(number, previous)
                _previous[number] = previous


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold the stop signals while a file is made and registered: one that arrives in
    between (the file exists, nothing would remove it yet) is delivered as the block
    ends, once the file is registered, and removes it. Main thread only, as handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def forget(path: Path) -> None:
    """`path` is removed by its owner now; restore the handlers when none is left."""
    global _interrupted  # noqa: PLW0603 - reset once nothing is registered
    with _lock:
        _paths.discard(path)
        if _paths:
            return
        _interrupted = False
        if not _previous:
            return
        if threading.current_thread() is threading.main_thread() and os.getpid() == _owner:
            for number, previous in _previous.items():
                signal.signal(number, previous if previous is not None else signal.SIG_DFL)
            _previous.clear()


def unlink_all() -> None:
    """Remove every registered file (this process's own only)."""
    if os.getpid() != _owner:
        return
    for path in list(_paths):
        with contextlib.suppress(OSError):  # nothing more can be done while stopping
            path.unlink(missing_ok=True)


def interrupted() -> bool:
    """Whether a SIGINT arrived while a file was registered (SQLite may have swallowed the
    `KeyboardInterrupt` raised inside one of its callbacks; the caller raises it again)."""
    return _interrupted


def _on_signal(number: int, frame: FrameType | None) -> None:
    global _interrupted  # noqa: PLW0603 - set from the signal handler, read by the spool
    unlink_all()
    previous = _previous.get(number, signal.SIG_DFL)
    if number == signal.SIGINT:
        _interrupted = True
    if callable(previous):
        previous(number, frame)
    elif previous in (signal.SIG_DFL, None):
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)  # die of the signal, as the sender expects
