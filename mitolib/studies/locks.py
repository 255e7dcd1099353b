"""Per-run lock files: who is running a run now, on this host or another.

Before a run starts, its executor creates ``<run_id>.lock`` beside the run folder with ``O_EXCL``; the lock
holds ``<pid> <host>`` and its mtime is refreshed every ``HEARTBEAT_S`` seconds.  A lock is stale, and is
taken over, when its process is dead (same host) or its heartbeat is older than ``STALE_AFTER_S`` (another
host, as on a cluster's shared file system).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path

LOCK_SUFFIX = ".lock"
HEARTBEAT_S = 60.0
STALE_AFTER_S = 600.0
EMPTY_LOCK_GRACE_S = 60.0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def lock_path(run_dir: Path) -> Path:
    """The lock file of a run folder: ``<run_id>.lock`` beside it."""
    return run_dir.with_name(run_dir.name + LOCK_SUFFIX)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_holder(path: Path) -> str | None:
    """``"pid N on HOST"`` when a live process holds the lock at ``path``, else None (absent or stale)."""
    text = _read(path)
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return None
    fields = (text or "").split()
    if len(fields) != 2 or not fields[0].isdigit():
        return "being written" if age < EMPTY_LOCK_GRACE_S else None
    pid, host = int(fields[0]), fields[1]
    if host == socket.gethostname():
        return f"pid {pid} on {host}" if _pid_alive(pid) else None
    return f"pid {pid} on {host}" if age < STALE_AFTER_S else None


class RunLock:
    """An exclusive, heartbeated lock file; ``acquire()`` returns False when someone else holds it."""

    def __init__(self, path: Path):
        self.path = path
        self.text = f"{os.getpid()} {socket.gethostname()}\n"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _create(self) -> bool:
        try:
            handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(self.text)
        return True

    def _take_over(self) -> bool:
        """Move a stale lock aside; False if it turned out to be live (then it is put back)."""
        seen = _read(self.path)
        if lock_holder(self.path) is not None:
            return False
        aside = self.path.with_name(f"{self.path.name}.stale.{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return True
        if _read(aside) != seen:  # another executor took the lock between our read and rename
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
            aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        _log(f"took over the stale lock {self.path.name} ({(seen or '').strip() or 'empty'})")
        return True

    def acquire(self) -> bool:
        """Create the lock (taking over a stale one) and start the heartbeat; True on success."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._create() and not (self._take_over() and self._create()):
            return False
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()
        return True

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        """Stop the heartbeat and remove the lock if it is still ours."""
        self._stop.set()
        if _read(self.path) == self.text:
            self.path.unlink(missing_ok=True)
