"""One writer per folder: a lock file beside the folder that names its holder.

``FolderLock(folder)`` creates ``<parent>/.<name>.lock`` with ``O_CREAT | O_EXCL``
and writes the holder's record into it (pid, host, command, since when). A
second writer finds the file and stops with one line naming the holder. A lock
left by a killed process (its pid gone on this host) is stale: it is taken
over with a one-line note. The lock lives beside the folder, not inside it, so
that a report folder can be swapped whole while its lock is held.

Within one process the lock is re-entrant: a writer that holds ``out`` may call
code that locks ``out`` again (e.g. ``publish`` inside the driver's lock).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from steer.errors import SteerError

_held: dict[Path, int] = {}  # lock file → how many times this process holds it


def lock_path(folder: str | os.PathLike) -> Path:
    """The lock file of ``folder``: ``.<name>.lock`` beside it (symbolic links resolved: one lock per folder)."""
    folder = Path(os.path.realpath(folder))
    return folder.parent / f".{folder.name}.lock"


def _record() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}


def _read(path: Path) -> dict | None:
    """The holder's record, ``{}`` if unreadable (being written, damaged), None if there is no lock."""
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def describe(record: dict) -> str:
    """The holder in words: ``pid 123 on host (python train.py fit …) since 2024-05-01 12:00:00``."""
    if not record:
        return "a process that is still starting (its record is not written yet)"
    return f"pid {record.get('pid')} on {record.get('host')} ({record.get('command')}) since {record.get('since')}"


def _alive(record: dict) -> bool:
    """False only when the holder ran on this host and its pid is gone; True when it cannot be told."""
    pid = record.get("pid")
    if record.get("host") != socket.gethostname() or not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def busy(what: str, record: dict, path: Path) -> SteerError:
    """The one line a second writer gets: who holds the folder, and what to do."""
    return SteerError(f"{what} is being written by {describe(record)}; wait for it to finish or choose another "
                      f"folder (if that process is gone, remove {path}).")


def refuse_if_held(folder: str | os.PathLike, what: str) -> None:
    """Stop early (before any slow work) if a live process holds ``folder``'s lock."""
    record = holder(folder)
    if record is not None:
        raise busy(what, record, lock_path(folder))


def holder(folder: str | os.PathLike) -> dict | None:
    """The record of the live process holding ``folder``'s lock, if any (not this process)."""
    path = lock_path(folder)
    record = _read(path)
    if record is None or path in _held or not _alive(record):
        return None
    return record


class FolderLock:
    """The lock of ``folder``, taken by ``acquire`` (or ``with``) and given back by ``release``.

    ``what`` names the folder in messages (e.g. ``--out reports/demo``).
    """

    def __init__(self, folder: str | os.PathLike, what: str | None = None) -> None:
        self.folder = Path(folder)
        self.path = lock_path(folder)
        self.what = what or str(folder)
        self.held = False

    def acquire(self) -> FolderLock:
        if self.held:
            return self
        if self.path in _held:
            _held[self.path] += 1
            self.held = True
            return self
        for _ in range(3):  # a stale lock taken over by another process at the same time: try again
            if self._create():
                _held[self.path] = 1
                self.held = True
                return self
            record = _read(self.path)
            if record is None:
                continue
            if _alive(record):
                raise busy(self.what, record, self.path)
            self._take_over(record)
        raise SteerError(f"cannot take the lock {self.path}: other processes keep taking it; try again.")

    def _create(self) -> bool:
        with contextlib.suppress(OSError):  # a parent that cannot be made fails at the open, with its reason
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        except OSError as e:
            raise SteerError(f"cannot write {self.what}: {e.strerror or e} (its lock {self.path}). "
                             "Choose a writable folder.") from None
        with os.fdopen(fd, "w") as f:
            json.dump(_record(), f)
        return True

    def _take_over(self, stale: dict) -> None:
        """Move the stale lock aside; if it turned out to be another's fresh lock, put it back."""
        aside = self.path.with_name(f"{self.path.name}.stale-{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        if _read(aside) != stale:
            try:
                os.link(aside, self.path)  # back in place unless someone locked meanwhile
            except FileExistsError:
                pass
        else:
            print(f"note: {self.what} was locked by {describe(stale)}, which is gone; taking the lock over.",
                  file=sys.stderr)
        aside.unlink(missing_ok=True)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        _held[self.path] -= 1
        if _held[self.path] == 0:
            del _held[self.path]
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()
