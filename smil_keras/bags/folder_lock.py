"""One writer per output folder: a lock file that names its holder."""

import datetime
import json
import logging
import os
import socket
import time

from smil_keras.errors import LockedError

try:  # POSIX: the kernel releases a flock when its process ends, however it ends
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

logger = logging.getLogger(__name__)


class FolderLock:
    """An exclusive lock on a folder, held by one process at a time (context manager).

    The lock is the file `folder/name`, locked with `flock` and holding who holds it: process id,
    host and since when (JSON). A second writer, in this process or another, gets a
    `LockedError` naming the folder and the holder. The operating system drops a `flock` when
    its process ends, so a lock left behind by a killed process is stale: the next writer takes it
    over and logs a warning naming the dead holder. Released, the file is removed.

    Where `fcntl` is missing (Windows), the file is created exclusively instead; a lock left by a
    killed process then has to be deleted by hand (the error says which file).

    Args:
        folder: the folder to lock (created if missing).
        name: the lock file's name in it.

    Attributes:
        path: the lock file.

    Example:

    >>> with FolderLock("bags/"):  # doctest: +SKIP
    ...     write_shards("bags/")
    """

    def __init__(self, folder, name="extract.lock"):
        self.folder = os.fspath(folder)
        self.name = name
        self.path = os.path.join(self.folder, name)
        self._fd = None

    def acquire(self):
        """Takes the lock; raises `LockedError` when another writer holds it."""
        os.makedirs(self.folder, exist_ok=True)
        take = self._take_flock if fcntl is not None else self._take_exclusive
        previous = take()
        if previous is not None:
            logger.warning(
                "%s: taking over a stale lock of %s (that process has ended)",
                self.folder,
                _describe(previous),
            )
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, json.dumps(holder).encode("utf-8"))
        os.fsync(self._fd)
        return self

    def release(self):
        """Removes the lock file and drops the lock (nothing when not held)."""
        if self._fd is None:
            return
        try:
            os.remove(self.path)  # while still locked: a waiting writer re-checks the file
        finally:
            os.close(self._fd)
            self._fd = None

    def _take_flock(self):
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_holder(fd, wait=True)
                os.close(fd)
                raise LockedError(self.folder, _refusal(holder)) from None
            try:  # the holder may have removed the file between our open and our flock
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                self._fd = fd
                return _read_holder(fd)
            os.close(fd)

    def _take_exclusive(self):  # pragma: no cover - Windows
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            fd = os.open(self.path, os.O_RDONLY)
            holder = _read_holder(fd, wait=True)
            os.close(fd)
            raise LockedError(
                self.folder, _refusal(holder) + f" (if that process has ended, delete {self.path})"
            ) from None
        return None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read_holder(fd, wait=False):
    """The holder written in the lock file: a dict, `{}` when unreadable, `None` when the file is
    empty. With `wait`, gives a holder that has just taken the lock a moment to write itself."""
    holder = None
    for _ in range(20 if wait else 1):
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        if data:
            try:
                return json.loads(data.decode("utf-8"))
            except ValueError:
                holder = {}  # being written, or torn by a crash
        time.sleep(0.05 if wait else 0)
    return holder


def _describe(holder):
    if holder is None:
        return "a process that has not yet written its name"
    if not holder:
        return "a process whose lock file cannot be read"
    return f"process {holder.get('pid')} on host {holder.get('host')} since {holder.get('since')}"


def _refusal(holder):
    return (
        f"another writer holds it ({_describe(holder)}); wait for it to finish, or write "
        "to another folder"
    )
