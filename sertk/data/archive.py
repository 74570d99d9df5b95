"""Safe extraction of untrusted corpus archives (.zip, .tar, .tar.gz/.bz2/.xz).

A downloaded archive is untrusted input: ``zipfile.extractall`` and ``tarfile.extractall``
(without Python 3.12's ``filter="data"``, which every tar member here must pass as well)
follow ``..`` names, absolute paths and links out of the target, create device files and
unpack zip bombs until the disk is full. So every member is checked before anything is written:

- its name is relative, with no ``..`` component and no drive letter;
- it is a regular file or a directory: symlinks and hard links are refused outright (a
  speech corpus needs neither), as are devices, FIFOs and encrypted zip members;
- the archive holds at most ``max_members`` members whose declared sizes add up to at most
  ``max_bytes``; the bytes actually written are counted too, so a lying header cannot
  get past the limit.

The limits are checked while the index is read, so time and memory before a refusal are
bounded by the limit, not by the archive: a tar's headers are read one at a time up to member
``max_members + 1``; a zip's central directory (which ``zipfile`` loads whole) is first
walked entry by entry, building nothing, and counted the same way.

Files are created with exclusive-create (never overwriting or following anything already
there) and the archive's permission bits are ignored. Extraction goes into a fresh
directory; on :class:`ArchiveError` the caller removes it (see ``sertk.data.download``).
"""
from __future__ import annotations

import gzip
import lzma
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator

MAX_BYTES = 4 * 2**30  # default limit on the unpacked size
MAX_MEMBERS = 100_000
# tarfile follows chained GNU long-name and pax headers with one recursive call each
_CHAINED_HEADERS = "corrupt archive (thousands of chained extended headers before one member)"
_CHUNK = 1 << 20


class ArchiveError(ValueError):
    """An archive that is unsafe or unreadable. ``str(err)`` names the archive and the reason."""

    def __init__(self, archive: str | Path, reason: str):
        self.archive = str(archive)
        self.reason = reason
        super().__init__(f"{self.archive}: {reason}")


@dataclass(frozen=True)
class _Member:
    name: PurePosixPath
    is_dir: bool
    size: int
    open: Callable[[], BinaryIO] | None  # None for directories


def member_path(name: str) -> PurePosixPath | None:
    """The safe relative path of an archive member, or None for the archive root (``./``).

    Backslashes count as separators, so ``..\\x`` is refused like ``../x``.

    Raises:
        ValueError: the name is absolute, has a drive letter, a ``..`` part or a NUL.
    """
    text = name.replace("\\", "/")
    if "\x00" in text:
        raise ValueError(f"member name {name!r} contains a NUL byte")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise ValueError(f"member {name!r} has an absolute path")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"member {name!r} points outside the target ('..')")
    return PurePosixPath(*parts) if parts else None


def archive_format(path: str | Path) -> str:
    """``"zip"`` or ``"tar"``, from the file's content (not its name)."""
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except (OSError, EOFError, zlib.error):
        pass
    except RecursionError:
        raise ArchiveError(path, _CHAINED_HEADERS) from None
    raise ArchiveError(path, "not a zip or tar archive (or truncated beyond recognition)")


def extract_archive(archive: str | Path, dest: str | Path, *, max_bytes: int = MAX_BYTES,
                    max_members: int = MAX_MEMBERS) -> list[Path]:
    """Extract ``archive`` into the empty or new directory ``dest``, refusing anything unsafe.

    Returns:
        The extracted regular files, in archive order.

    Raises:
        ArchiveError: an unsafe member, a limit exceeded, or a corrupt/truncated archive.
            ``dest`` may then hold part of the archive; the caller removes it.
    """
    archive, dest = Path(archive), Path(dest)
    kind = archive_format(archive)
    opener = zipfile.ZipFile if kind == "zip" else tarfile.open
    try:
        if kind == "zip":
            _check_zip_entry_count(archive, max_members)
        with opener(archive) as handle:
            members = _zip_members(handle) if kind == "zip" else _tar_members(handle, dest)
            checked = list(_within_limits(members, max_bytes, max_members))
            return _write_members(checked, dest, max_bytes)
    except ValueError as err:  # member_path's refusals, and ArchiveError itself
        raise err if isinstance(err, ArchiveError) else ArchiveError(archive, str(err)) from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile,
            lzma.LZMAError) as err:
        raise ArchiveError(archive, f"corrupt or truncated archive ({err})") from None
    except OSError as err:
        raise ArchiveError(archive, f"cannot extract ({err})") from None
    except RecursionError:
        raise ArchiveError(archive, _CHAINED_HEADERS) from None


def _zip_members(zf: zipfile.ZipFile) -> Iterator[_Member]:
    for info in zf.infolist():
        name = member_path(info.filename)
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise ValueError(f"member {info.filename!r} is a symlink")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ValueError(f"member {info.filename!r} is not a regular file or directory")
        if info.flag_bits & 0x1:
            raise ValueError(f"member {info.filename!r} is encrypted")
        if name is None:
            continue
        is_dir = info.is_dir() or kind == stat.S_IFDIR
        yield _Member(name, is_dir, 0 if is_dir else info.file_size,
                      None if is_dir else (lambda info=info: zf.open(info)))


def _tar_members(tf: tarfile.TarFile, dest: Path) -> Iterator[_Member]:
    while (info := tf.next()) is not None:  # one header at a time, not getmembers()
        name = member_path(info.name)
        if info.issym() or info.islnk():
            kind = "symlink" if info.issym() else "hard link"
            raise ValueError(f"member {info.name!r} is a {kind} (to {info.linkname!r})")
        if not (info.isreg() or info.isdir()):
            raise ValueError(f"member {info.name!r} is a device, FIFO or other special file")
        if hasattr(tarfile, "data_filter"):  # Python's own "data" filter too (3.12, 3.11.4+)
            try:
                tarfile.data_filter(info, str(dest))
            except tarfile.FilterError as err:
                raise ValueError(f"member {info.name!r} refused by tarfile's data filter "
                                 f"({err})") from None
        if name is None:
            continue
        yield _Member(name, info.isdir(), info.size if info.isreg() else 0,
                      None if info.isdir() else (lambda info=info: tf.extractfile(info)))


def _within_limits(members: Iterator[_Member], max_bytes: int, max_members: int
                   ) -> Iterator[_Member]:
    """Pass ``members`` on, stopping at the first that breaks a limit or repeats a name."""
    count, total = 0, 0
    seen: set[PurePosixPath] = set()
    for m in members:
        count += 1
        if count > max_members:
            raise ValueError(f"more than {max_members} members, over the limit of {max_members}")
        total += m.size
        if total > max_bytes:
            raise ValueError(f"unpacks to more than {max_bytes} bytes, over the limit of "
                             f"{max_bytes} (zip bomb?)")
        if m.name in seen and not m.is_dir:
            raise ValueError(f"member {str(m.name)!r} occurs twice")
        seen.add(m.name)
        yield m


# 46 bytes: signature, ..., name, extra field and comment lengths, ...
_ZIP_CENTRAL_ENTRY = struct.Struct("<4s24xHHH12x")
_ZIP_CENTRAL_SIGNATURE = b"PK\x01\x02"


def _check_zip_entry_count(archive: Path, max_members: int) -> None:
    """Walk a zip's central directory entry by entry; refuse past ``max_members`` entries.

    ``zipfile.ZipFile`` builds an object per entry of the whole directory; this reads 46 bytes
    per entry and keeps nothing. The end record's count is not trusted (the directory is
    walked whatever it says), but a declared count over the limit is refused at once.
    """
    with open(archive, "rb") as fh:
        end = zipfile._EndRecData(fh)  # the end record (zip64 aware), as ZipFile reads it
        if end is None:
            raise zipfile.BadZipFile("no end of central directory record")
        declared, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
        if declared > max_members:
            raise ValueError(f"{declared} members, over the limit of {max_members}")
        directory_end = end[zipfile._ECD_LOCATION]  # where the end record starts
        if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
            directory_end -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
        fh.seek(max(0, directory_end - size))
        count, walked = 0, 0
        while walked < size:
            head = fh.read(_ZIP_CENTRAL_ENTRY.size)
            if len(head) < _ZIP_CENTRAL_ENTRY.size:
                break  # malformed: zipfile says so when it opens the file
            signature, name_len, extra_len, comment_len = _ZIP_CENTRAL_ENTRY.unpack(head)
            if signature != _ZIP_CENTRAL_SIGNATURE:
                break
            count += 1
            if count > max_members:
                raise ValueError(f"more than {max_members} members, over the limit of "
                                 f"{max_members}")
            skip = name_len + extra_len + comment_len
            fh.seek(skip, 1)
            walked += _ZIP_CENTRAL_ENTRY.size + skip


def _write_members(members: list[_Member], dest: Path, max_bytes: int) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written, files = 0, []
    for m in members:
        target = root.joinpath(*m.name.parts)
        if root not in target.parents:  # cannot happen after member_path; belt and braces
            raise ValueError(f"member {str(m.name)!r} points outside the target")
        if m.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with m.open() as src, open(target, "xb") as out:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise ValueError(f"unpacks to more than {max_bytes} bytes (zip bomb?)")
                out.write(chunk)
        files.append(target)
    return files
