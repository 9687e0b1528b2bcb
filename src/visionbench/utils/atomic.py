"""Writing a file so that it is either absent or complete: the content goes to a temporary file beside the target,
which is then put in place in one step. An interrupted write leaves nothing that looks like a finished file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class OutputWriteError(RuntimeError):
    """A file that could not be written (full disk, read-only or missing folder...): one line naming the file, the
    system's reason, and whether an earlier version of the file is kept (it always is, untouched)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        kept = "the previous version is kept" if path.exists() else "nothing was written under that name"
        super().__init__(f"cannot write {path} ({reason}); {kept}")


def write_atomically(path: Path, write: Callable[[BinaryIO], object], replace: bool) -> bool:
    """Call ``write(file)`` on a temporary file beside ``path`` and put it in place: with ``replace``, over any
    existing ``path`` (``os.replace``); without, only if ``path`` does not exist (a hard link, so a file that appeared
    meanwhile is never replaced), returning False when it does. The temporary file is removed in every case. A system
    error (a full disk, a read-only folder) raises :class:`OutputWriteError`."""
    try:
        return _write_atomically(path, write, replace)
    except FileExistsError:
        raise
    except OSError as error:
        raise OutputWriteError(path, error.strerror or str(error) or type(error).__name__) from error


def _write_atomically(path: Path, write: Callable[[BinaryIO], object], replace: bool) -> bool:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp creates 0600; give the permissions open() would
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
        return True
    except FileExistsError:
        if replace:
            raise
        return False
    finally:
        Path(temporary).unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str, replace: bool) -> bool:
    """:func:`write_atomically` of ``text`` in UTF-8."""
    return write_atomically(path, lambda stream: stream.write(text.encode("utf-8")), replace)
