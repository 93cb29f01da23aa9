"""Paths the user gives (scenario files, vector files, output folders and files), checked before any work.

Every failure is a `PathError` (a ``ValueError``) or a ``FileNotFoundError``
whose message names the path (and the option, for outputs), so the command
line prints one line instead of a traceback, and a run never starts only to
fail when it writes its results.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> output_file(folder / "new" / "x.pcap", "--pcap") == folder / "new" / "x.pcap", (folder / "new").is_dir()
    (True, True)
    >>> read_text(folder, "scenario")
    Traceback (most recent call last):
    ...
    switchsim.paths.PathError: ...: is a folder, not a scenario file
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class PathError(ValueError):
    """A path cannot be read or written as asked; the message names it."""


def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of the file at ``path``; ``what`` names its kind in errors ("scenario").

    Raises:
        FileNotFoundError: when nothing is at ``path``.
        PathError: when ``path`` is a folder, is not UTF-8, or cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        raise PathError(f"{path}: is a folder, not a {what} file")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what} file") from None
    except UnicodeDecodeError as error:
        raise PathError(f"{path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start}); "
                        f"a {what} file must be UTF-8") from None
    except OSError as error:
        raise PathError(f"{path}: cannot read the {what} file: {error.strerror}") from None


def output_dir(path: str | Path, option: str) -> Path:
    """``path`` as a folder that exists (created with its parents); ``option`` names it in errors ("--out").

    The folder is also checked to accept new files (one is created and removed), so a
    run never simulates for minutes only to fail when it writes its results.

    Raises:
        PathError: when ``path`` (or a parent) is an existing file, or the folder cannot be created or
            written into.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PathError(f"{option} {path}: exists and is not a folder; give a folder (it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PathError(f"{option} {path}: cannot create the folder: {error.strerror}") from None
    try:
        with tempfile.TemporaryFile(dir=path, prefix=".switchsim-probe-"):
            pass
    except OSError as error:
        raise PathError(f"{option} {path}: cannot write into the folder: {error.strerror}; "
                        "give a folder you can write") from None
    return path


def output_file(path: str | Path, option: str) -> Path:
    """``path`` as a file that can be written: not a folder, its parent folders created; ``option`` names it.

    Raises:
        PathError: when ``path`` is a folder, its parent cannot be a folder written into, or ``path`` is an
            existing file that cannot be overwritten.
    """
    path = Path(path)
    if path.is_dir():
        raise PathError(f"{option} {path}: is a folder; give a file name")
    output_dir(path.parent, option)
    if path.exists() and not os.access(path, os.W_OK):
        raise PathError(f"{option} {path}: exists and cannot be overwritten; give another file name")
    return path
