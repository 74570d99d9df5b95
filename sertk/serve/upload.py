"""Receiving audio uploads: streamed into a private folder, the size limit counted as it comes.

A request carries its audio either as the ``file`` field of a ``multipart/form-data`` body or as
the raw body with ``Content-Type: audio/*`` (or ``application/octet-stream``). Either way the
bytes are written, chunk by chunk, to one file inside a folder made by :func:`tempfile.mkdtemp`
(mode 0700, readable by this user only); nothing else touches the disk (Starlette's form parser
would spool to the system temp folder, so multipart bodies are parsed here with
python-multipart's streaming parser).

The upload limit is enforced twice: a declared ``Content-Length`` over the limit is
refused before a byte of the body is read, and the bytes actually received are
counted, so a chunked body or a lying header is cut off as soon as it passes the
limit. The caller removes the folder (:meth:`UploadFolder.remove`).
"""
from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

FILE_FIELD = "file"
RAW_TYPES = ("audio/", "application/octet-stream")
# Content-Type of a raw body -> the suffix the file is saved with (libsndfile mostly
# reads the content, but the suffix names an undecodable format in the error).
SUFFIX_BY_TYPE = {
    "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/vnd.wave": ".wav",
    "audio/flac": ".flac", "audio/x-flac": ".flac", "audio/ogg": ".ogg", "audio/opus": ".opus",
    "audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/aiff": ".aiff", "audio/x-aiff": ".aiff",
    "audio/webm": ".webm", "audio/mp4": ".m4a", "audio/aac": ".aac", "audio/amr": ".amr",
}


class UploadError(Exception):
    """An upload refused before any audio work; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(message)


def too_large(limit: int) -> UploadError:
    return UploadError(413, f"upload larger than the server's limit of {limit / 1e6:g} MB "
                            f"({limit} bytes)")


def check_declared_length(content_length: str | None, limit: int) -> None:
    """Refuse a body whose ``Content-Length`` header is over ``limit`` bytes (``UploadError``
    413) or not a number (400)."""
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError:
        raise UploadError(400, f"Content-Length is not a number: {content_length[:40]!r}") \
            from None
    if declared > limit:
        raise too_large(limit)


class UploadFolder:
    """A private folder (0700) for one request's upload; the caller removes it."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="sertk-serve-"))  # mkdtemp: mode 0700

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@dataclass(frozen=True)
class Upload:
    """The received audio: where it was written, the name the client gave, its size."""

    path: Path
    filename: str
    size: int


async def receive_audio(chunks: AsyncIterator[bytes], content_type: str | None,
                        folder: Path, limit: int) -> Upload:
    """Write the request body's audio into ``folder``, at most ``limit`` bytes of body.

    Args:
        chunks: the body as it arrives (Starlette's ``request.stream()``).
        content_type: the request's ``Content-Type`` header.

    Raises:
        UploadError: 413 past the limit; 415 for a body that is neither multipart nor
            audio; 400 for a multipart body without a ``file`` field or an empty body.
    """
    kind, params = parse_options_header(content_type or "")
    kind = kind.decode("latin-1").lower()
    if kind == "multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise UploadError(400, "multipart body without a boundary")
        return await _receive_multipart(chunks, boundary, folder, limit)
    if kind.startswith(RAW_TYPES):
        path = folder / f"upload{SUFFIX_BY_TYPE.get(kind, '')}"
        with open(path, "wb") as out:
            size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                out.write(chunk)
        if size == 0:
            raise UploadError(400, "empty request body: send the audio as the body or as "
                                   "the 'file' field of a multipart form")
        return Upload(path, "upload" + path.suffix, size)
    shown = kind or "none"
    raise UploadError(415, f"unsupported Content-Type {shown!r}: send multipart/form-data "
                           f"with a '{FILE_FIELD}' field, or the audio itself as audio/*")


async def _receive_multipart(chunks: AsyncIterator[bytes], boundary: bytes, folder: Path,
                             limit: int) -> Upload:
    state = _Parts(folder)
    parser = MultipartParser(boundary, state.callbacks())
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            parser.write(chunk)
            if state.error:
                raise UploadError(400, state.error)
        parser.finalize()
    except UploadError:
        raise
    except Exception as err:  # python-multipart's parse errors
        raise UploadError(400, f"malformed multipart body ({type(err).__name__})") from None
    finally:
        state.close()
    if state.error:
        raise UploadError(400, state.error)
    if state.upload is None:
        raise UploadError(400, f"multipart body without a '{FILE_FIELD}' field holding the audio")
    if state.upload.size == 0:
        raise UploadError(400, f"the '{FILE_FIELD}' field is empty")
    return state.upload


class _Parts:
    """python-multipart callbacks: the ``file`` part goes to disk, other parts are dropped."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.upload: Upload | None = None
        self.error: str | None = None
        self._headers: dict[str, str] = {}
        self._field = self._value = b""
        self._out = None
        self._name = ""
        self._size = 0

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done, "on_part_data": self._data,
                "on_part_end": self._end}

    def _begin(self) -> None:
        self._headers, self._field, self._value = {}, b"", b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("utf-8", "replace")
        self._field, self._value = b"", b""

    def _headers_done(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name != FILE_FIELD:
            return
        if self.upload is not None or self._out is not None:
            self.error = f"more than one '{FILE_FIELD}' field"
            return
        self._name = safe_filename(params.get(b"filename", b"").decode("utf-8", "replace"))
        self._size = 0
        self._out = open(self.folder / f"upload{Path(self._name).suffix}", "wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._out is not None:
            self._out.write(data[start:end])
            self._size += end - start

    def _end(self) -> None:
        if self._out is not None:
            self.upload = Upload(Path(self._out.name), self._name, self._size)
            self.close()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def safe_filename(name: str) -> str:
    """The client's file name reduced to a harmless base name (for messages and the
    suffix only; the file on disk is always ``upload<suffix>`` in the private folder).

    The suffix keeps letters and digits only (at most 8), so ``../../x.wav`` is ``x.wav``.
    """
    base = re.split(r"[\\/]", name)[-1].strip().replace("\x00", "")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = re.sub(r"[^A-Za-z0-9]", "", suffix)[:8]
    stem = re.sub(r"[^\w\- .()]", "_", stem)[:100] or "upload"
    return f"{stem}.{suffix}" if suffix else stem
