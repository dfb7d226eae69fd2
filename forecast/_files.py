"""Files the package writes: whole-file replacement, advisory locks, symlinks followed.

Three rules every writer of the package follows (``docs/guarantees.md`` states them for
users):

* **Atomic replacement** (:func:`write_atomically`): the new bytes go to a temporary file
  beside the target, are flushed to disk, and are renamed over the target; the folder is
  flushed too. A reader, or a crash at any instant, sees the old bytes or the new, never
  a mixture.
* **Locks** (:func:`locked`): a writer that reads, changes and rewrites a file (``append``)
  or replaces a report folder holds an exclusive ``fcntl.flock`` on ``.NAME.lock`` beside
  it for the whole read-check-write-rename. The lock file is removed by its last holder;
  a holder checks, once it has the lock, that the file it locked is still the one at
  that name (else it was removed by a previous holder, and it locks again), so removing
  it never lets two holders in. A process killed while holding a lock loses it (the
  kernel drops it); the file left behind is reused. On a file system without locks
  (``flock`` fails with ``ENOLCK``, ``EOPNOTSUPP`` ...: NFS without ``lockd``), a writer
  is refused with an error saying so; a reader reads without the lock.
* **Symlinks are followed** (:func:`follow`): writing through ``link`` replaces the file
  (or folder) the link points to, and the link stays a link.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import ForecastError

__all__ = ["LockUnavailable", "ReportWarning", "follow", "fsync_dir", "lock_name", "locked", "remove_stale_temps", "write_atomically"]

#: Seconds a writer waits for another to release a lock before giving up.
LOCK_TIMEOUT = 120.0
#: ``errno`` values of a file system that has no locks.
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}
#: Where a lock file cannot even be made (a read-only or foreign folder).
_NO_LOCK_FILE = {errno.EROFS, errno.EACCES, errno.EPERM}


class ReportWarning(UserWarning):
    """Said about a report folder: it was read without verification, or recovered from an interrupted write.

    ``forecast`` prints it as one ``forecast: warning: ...`` line on standard error.
    """


class LockUnavailable(ForecastError):
    """The lock could not be taken: no locks on this file system, or no lock file can be made there."""


def follow(path: str | Path, shown: str | None = None) -> Path:
    """The absolute path ``path`` stands for, every symlink (of it and its folders) followed.

    A dangling link stands for its target's path (writing there creates it). A symlink
    loop is refused.

    Examples
    --------
    >>> follow("/") == Path("/")
    True
    """
    real = Path(os.path.realpath(os.path.abspath(path)))
    if real.is_symlink():  # realpath stops at a loop
        raise ForecastError(f"{shown or path}: is a symlink loop; name a real file or folder")
    return real


def lock_name(path: Path) -> Path:
    """The lock file of ``path``: ``.NAME.lock`` in the same folder."""
    return path.parent / f".{path.name}.lock"


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename in it) to disk; best effort (some file systems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(path: Path, *, shared: bool = False, timeout: float = LOCK_TIMEOUT, shown: str | None = None,
           required: bool = True) -> Iterator[bool]:
    """Hold a ``flock`` on ``.NAME.lock`` beside ``path`` (exclusive, or ``shared``); yield whether it is held.

    Waits up to ``timeout`` seconds for other holders. Without locks on the file system,
    or without a way to make the lock file, it raises :class:`LockUnavailable` when
    ``required``, else yields ``False`` (a reader then reads unlocked). The lock file
    is removed on release unless another process holds or waits for it.
    """
    shown = shown or str(path)
    if not path.name:  # the root folder: nothing beside it to lock
        if required:
            raise LockUnavailable(f"{shown}: is the root folder; nothing can be locked beside it")
        yield False
        return
    lock = lock_name(path)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = _open_lock(lock)
        except OSError as exc:
            if not required and exc.errno in _NO_LOCK_FILE | {errno.ENOENT, errno.ENOTDIR}:
                yield False
                return
            raise LockUnavailable(f"{shown}: cannot make the lock file {lock.name} beside it "
                                  f"({exc.strerror}); nothing was written") from None
        try:
            held = _acquire(fd, lock, shared, deadline, shown, required)
            if not held:
                os.close(fd)
                yield False
                return
            if _is_current(fd, lock):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # removed by its last holder meanwhile: lock the one at the name now
    try:
        yield True
    finally:
        _release(fd, lock, shared)


def _open_lock(lock: Path) -> int:
    flags = os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        return os.open(lock, os.O_RDWR | flags, 0o666)
    except PermissionError:  # someone else's lock file: a read-only descriptor locks as well
        return os.open(lock, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)


def _acquire(fd: int, lock: Path, shared: bool, deadline: float, shown: str, required: bool) -> bool:
    mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, mode)
            return True
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EINTR):
                if time.monotonic() >= deadline:
                    raise LockUnavailable(f"{shown}: another process has held its lock for too long; "
                                          "nothing was written (try again when it has finished)") from None
                time.sleep(pause * (0.5 + random.random()))
                pause = min(pause * 2, 0.05)
                continue
            if exc.errno in _NO_LOCKS:  # no one can hold a lock here: the file is no one's
                with contextlib.suppress(OSError):
                    os.unlink(lock)
                if not required:
                    return False
                raise LockUnavailable(f"{shown}: the file system does not support locks ({exc.strerror}); "
                                      "refusing to write without one, since a concurrent writer could "
                                      "lose changes (see docs/guarantees.md)") from None
            raise


def _is_current(fd: int, lock: Path) -> bool:
    try:
        now = os.stat(lock, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _release(fd: int, lock: Path, shared: bool) -> None:
    try:
        if shared:  # remove the file only if no one else holds or waits for it
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return
        if _is_current(fd, lock):
            with contextlib.suppress(OSError):
                os.unlink(lock)
    finally:
        os.close(fd)  # drops the lock


def remove_stale_temps(path: Path) -> list[str]:
    """Remove ``.NAME.XXXXXXXX.tmp`` files beside ``path``: temporary files of writers killed mid-write.

    Call only while holding the lock of ``path`` (then no live writer owns one).
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")
    removed: list[str] = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        if pattern.fullmatch(name):
            with contextlib.suppress(OSError):
                if not os.path.islink(path.parent / name) and os.path.isfile(path.parent / name):
                    os.unlink(path.parent / name)
                    removed.append(name)
    return removed


def write_atomically(path: Path, content: bytes) -> None:
    """Replace the regular file ``path`` (or create it) with ``content``, atomically.

    ``path`` is written as named: callers pass it through :func:`follow` first. The file
    keeps its permission bits (and owner, where allowed); a new one gets ``0o666 & ~umask``.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            old = os.stat(path)
        except FileNotFoundError:
            old = None
        if old is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # not mkstemp's private 0600
        else:
            if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                with contextlib.suppress(OSError):
                    os.chown(tmp, old.st_uid, old.st_gid)
            os.chmod(tmp, old.st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
