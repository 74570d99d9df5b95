"""Fetch a public corpus archive, verify it and unpack it safely into a folder.

Only EmoDB (Burkhardt et al., Interspeech 2005; free for research, cite the paper) is
downloadable: IEMOCAP needs a signed licence from USC, so it is never fetched.

``download_corpus("emodb", DIR)`` does, in order, and leaves DIR as it was on any failure:

1. streams the archive over HTTP into a temporary file inside DIR (progress bar, size
   limit; a short read against Content-Length is an error);
2. computes its SHA-256 (returned, and printed by the CLI) and, if a digest is pinned
   (``sha256=`` / ``--sha256``), stops on a mismatch before extracting anything;
3. extracts it with :mod:`sertk.data.archive` (no member outside DIR, no links or devices,
   bounded unpacked size) into a temporary directory inside DIR;
4. checks that it holds the expected audio files (EmoDB: 535 ``wav/*.wav``);
5. renames the top-level entries into DIR (overwriting nothing), so the corpus appears whole
   or not at all. The temporary archive (``.sertk-download-*.part``) and directory
   (``.sertk-extract-*``) are always removed: on success, on any error, on Ctrl-C (SIGINT)
   and on SIGTERM (which, while a download runs in the main thread, becomes
   ``SystemExit(143)`` so that the clean-up runs; SIGKILL cannot be caught).

A server cannot hold a download forever: ``timeout`` bounds the whole download (connect,
headers and body; default one hour) and ``stall_timeout`` stops it when less than
:data:`STALL_BYTES` arrive in that many seconds (default 60 s), so a server trickling a byte
now and then is given up on too. A watchdog thread enforces both by shutting the
connection's socket, which wakes a read blocked in the middle of a response.

The canonical archive has no published checksum, so none is pinned by default; the digest
is printed on every download so that a user can pin it for the next one.

Why not ``pooch``: it has no whole-download deadline or stall timeout (a trickling server
holds it forever), no member checks or size limits on extraction and no clean-up on
SIGTERM, the reasons this module exists; it would be a second download path.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib.metadata
import math
import os
import re
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from tqdm.auto import tqdm

from sertk.data.archive import ArchiveError, extract_archive


TIMEOUT = 3600.0  # seconds for a whole download
STALL_TIMEOUT = 60.0  # seconds in which at least STALL_BYTES must arrive
STALL_BYTES = 1024


class DownloadError(RuntimeError):
    """A download that failed or was refused; the message names the URL or folder and why."""


@dataclass(frozen=True)
class CorpusSpec:
    """Where a corpus is published and what a good copy of it holds.

    ``expected_files`` files matching ``audio_pattern`` must lie in ``audio_dir`` (relative to
    the archive's root, or to its single top-level folder if it has one).
    """

    name: str
    url: str
    audio_dir: str
    expected_files: int
    audio_pattern: str = "*.wav"
    sha256: str | None = None  # pinned digest of the archive, if known
    max_download_bytes: int = 2 * 2**30
    max_unpacked_bytes: int = 4 * 2**30


EMODB = CorpusSpec(
    name="emodb",
    url="http://emodb.bilderbar.info/download/download.zip",
    audio_dir="wav",
    expected_files=535,
    max_download_bytes=512 * 2**20,  # the archive is about 40 MB
    max_unpacked_bytes=1 * 2**30,
)

CORPORA: dict[str, CorpusSpec] = {EMODB.name: EMODB}


@dataclass(frozen=True)
class DownloadResult:
    """A finished download: the corpus folder, the archive's digest and the audio file count."""

    corpus: str
    path: Path
    url: str
    sha256: str
    files: int


def download_corpus(corpus: str | CorpusSpec, dest: str | os.PathLike, *, url: str | None = None,
                    sha256: str | None = None, progress: bool = True,
                    timeout: float = TIMEOUT, stall_timeout: float = STALL_TIMEOUT
                    ) -> DownloadResult:
    """Download, verify and safely unpack ``corpus`` (a name in :data:`CORPORA` or a
    :class:`CorpusSpec`) into the folder ``dest`` (created if missing); see the module
    docstring. ``url`` replaces the spec's (a mirror or a ``file://`` copy), ``sha256`` (hex)
    the spec's required digest; ``progress`` draws a bar on stderr; ``timeout`` and
    ``stall_timeout`` are in seconds.

    Raises:
        DownloadError: the fetch, checksum, archive or content check failed, or a time limit
            passed; ``dest`` is left without partial output (and removed again if this call
            created it).
    """
    spec = _spec(corpus)
    url = url or spec.url
    expected_sha = _check_hex(sha256 or spec.sha256)
    _check_seconds(timeout=timeout, stall_timeout=stall_timeout)
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise DownloadError(f"{dest}: exists and is not a directory")
    created = not dest.exists()
    with _sigterm_as_exit():
        dest.mkdir(parents=True, exist_ok=True)
        tmp_name, staging, ok = None, None, False
        try:
            fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=".sertk-download-", suffix=".part")
            staging = Path(tempfile.mkdtemp(dir=dest, prefix=".sertk-extract-"))
            with os.fdopen(fd, "wb") as fh:
                digest = fetch(url, fh, max_bytes=spec.max_download_bytes, progress=progress,
                               timeout=timeout, stall_timeout=stall_timeout)
            if expected_sha and digest != expected_sha:
                raise DownloadError(f"{url}: SHA-256 mismatch: expected {expected_sha}, got "
                                    f"{digest}; nothing was extracted")
            try:
                extract_archive(tmp_name, staging, max_bytes=spec.max_unpacked_bytes)
            except ArchiveError as err:
                raise DownloadError(f"{url}: {err.reason}; nothing was extracted") from None
            root = _archive_root(staging, spec)
            files = _count_audio(root, spec, url)
            _move_into(root, dest)
            ok = True
        finally:  # also on KeyboardInterrupt (SIGINT) and SystemExit (SIGTERM)
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            if not ok and created and dest.is_dir() and not any(dest.iterdir()):
                dest.rmdir()
    return DownloadResult(spec.name, dest, url, digest, files)


def fetch(url: str, out: BinaryIO, *, max_bytes: int, progress: bool = True,
          timeout: float = TIMEOUT, stall_timeout: float = STALL_TIMEOUT) -> str:
    """Stream ``url`` into ``out``; returns the SHA-256 hex digest of what was received.

    Raises:
        DownloadError: HTTP error, network failure, more than ``max_bytes``, fewer bytes
            than the server's Content-Length announced, longer than ``timeout`` seconds in
            all, or less than :data:`STALL_BYTES` in ``stall_timeout`` seconds.
    """
    _check_seconds(timeout=timeout, stall_timeout=stall_timeout)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https", "file"):
        raise DownloadError(f"{url}: only http, https and file URLs are supported")
    if scheme == "file":
        _check_local_file(url)
    request = urllib.request.Request(url, headers={"User-Agent": f"sertk/{importlib.metadata.version('sertk')}"})
    digest, total = hashlib.sha256(), None
    with _Watchdog(timeout, stall_timeout) as watchdog:
        try:
            opener = _watched_opener(watchdog)
            with opener.open(request, timeout=min(timeout, stall_timeout)) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if total is not None and total > max_bytes:
                    raise DownloadError(f"{url}: {total} bytes is over the limit of {max_bytes}")
                name = Path(urllib.parse.urlsplit(url).path).name or url
                read = getattr(response, "read1", response.read)  # what has arrived, no more
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                          disable=not progress, leave=False) as bar:
                    while chunk := read(1 << 16):
                        watchdog.received += len(chunk)
                        if watchdog.received > max_bytes:
                            raise DownloadError(f"{url}: more than {max_bytes} bytes, stopped")
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
                        watchdog.raise_if_expired(url)
        except urllib.error.HTTPError as err:
            raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            watchdog.raise_if_expired(url, force_stall=isinstance(
                getattr(err, "reason", err), TimeoutError))
            if isinstance(err, urllib.error.URLError):
                raise DownloadError(f"{url}: cannot connect ({err.reason})") from None
            raise DownloadError(f"{url}: download failed ({type(err).__name__}: {err})") from None
        watchdog.raise_if_expired(url)  # a socket shut by the watchdog may read as an early end
    if total is not None and watchdog.received != total:
        raise DownloadError(f"{url}: connection closed after {watchdog.received} of {total} bytes")
    return digest.hexdigest()


class _Watchdog:
    """Ends a download that runs past ``timeout`` seconds or stalls for ``stall_timeout``.

    A thread checks both a few times per limit; when one passes it records why and shuts
    every socket the download opened, waking a blocked read. The reader adds the bytes it
    gets to :attr:`received` and calls :meth:`raise_if_expired`.
    """

    def __init__(self, timeout: float, stall_timeout: float):
        self.timeout, self.stall_timeout = timeout, stall_timeout
        self.received = 0
        self.expired: str | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._tick = max(0.01, min(1.0, timeout / 8, stall_timeout / 8))
        self._thread = threading.Thread(target=self._watch, name="sertk-download-watchdog",
                                        daemon=True)

    def __enter__(self) -> "_Watchdog":
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def raise_if_expired(self, url: str, *, force_stall: bool = False) -> None:
        reason = self.expired or ("stall" if force_stall else None)
        if reason == "deadline":
            raise DownloadError(f"{url}: took longer than the time limit of {self.timeout:g} s "
                                f"(--timeout); stopped after {self.received} bytes")
        if reason == "stall":
            raise DownloadError(f"{url}: stalled: less than {STALL_BYTES} bytes arrived in "
                                f"{self.stall_timeout:g} s (--stall-timeout); stopped after "
                                f"{self.received} bytes")

    def _watch(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            # SIGINT/SIGTERM go to the main thread, whose read they interrupt
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        mark_time, mark_bytes = self._start, 0
        while not self._done.wait(self._tick):
            now = time.monotonic()
            if self.received - mark_bytes >= STALL_BYTES:
                mark_time, mark_bytes = now, self.received
            if now - self._start > self.timeout:
                self._expire("deadline")
                return
            if now - mark_time > self.stall_timeout:
                self._expire("stall")
                return

    def _expire(self, reason: str) -> None:
        with self._lock:
            self.expired = reason
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:  # the plain socket's shutdown, also under an SSL socket: wakes a blocked recv
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _watched_opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    """urllib's opener whose HTTP(S) connections register their sockets with ``watchdog``."""

    def watched(base):
        class Connection(base):
            def connect(self):
                super().connect()
                watchdog.add(self.sock)
        return Connection

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(watched(http.client.HTTPConnection), req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(watched(http.client.HTTPSConnection), req, context=self._context)

    return urllib.request.build_opener(HTTPHandler(), HTTPSHandler())


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """While a download runs in the main thread, SIGTERM raises ``SystemExit(143)`` (so that
    ``finally`` blocks remove the temporaries) instead of ending the process on the spot.
    SIGINT already raises ``KeyboardInterrupt``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_local_file(url: str) -> None:
    """A ``file://`` URL must name a regular file (a FIFO would block before any limit)."""
    path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError) as err:
        raise DownloadError(f"{url}: cannot open ({getattr(err, 'strerror', None) or err})"
                            ) from None
    if not stat.S_ISREG(mode):
        raise DownloadError(f"{url}: not a regular file")


def _check_seconds(**limits: float) -> None:
    for name, value in limits.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise DownloadError(f"{name} must be a positive number of seconds, got {value!r}")


def _spec(corpus: str | CorpusSpec) -> CorpusSpec:
    if isinstance(corpus, CorpusSpec):
        return corpus
    try:
        return CORPORA[corpus]
    except KeyError:
        raise DownloadError(f"unknown corpus {corpus!r}; downloadable: {sorted(CORPORA)}") from None


def _check_hex(digest: str | None) -> str | None:
    if digest is None:
        return None
    digest = digest.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise DownloadError(f"SHA-256 must be 64 hex digits, got {digest!r}")
    return digest


def _archive_root(staging: Path, spec: CorpusSpec) -> Path:
    """The folder holding ``spec.audio_dir``: the archive root or its single top folder."""
    if (staging / spec.audio_dir).is_dir():
        return staging
    entries = list(staging.iterdir())
    if len(entries) == 1 and (entries[0] / spec.audio_dir).is_dir():
        return entries[0]
    return staging


def _count_audio(root: Path, spec: CorpusSpec, url: str) -> int:
    found = len([p for p in (root / spec.audio_dir).glob(spec.audio_pattern) if p.is_file()])
    if found != spec.expected_files:
        raise DownloadError(f"{url}: expected {spec.expected_files} {spec.audio_pattern} files "
                            f"in {spec.audio_dir}/, found {found}; nothing was extracted")
    return found


def _move_into(root: Path, dest: Path) -> None:
    """Rename every entry of ``root`` into ``dest``: all of them, or none on failure."""
    entries = sorted(root.iterdir())
    clashes = [e.name for e in entries if os.path.lexists(dest / e.name)]
    if clashes:
        raise DownloadError(f"{dest}: already contains {', '.join(clashes)}; remove it or choose "
                            "another folder (nothing was extracted)")
    moved: list[Path] = []
    try:
        for entry in entries:
            entry.rename(dest / entry.name)
            moved.append(entry)
    except BaseException as err:  # an OSError, or SIGTERM/SIGINT half way: all or none
        for entry in reversed(moved):
            (dest / entry.name).rename(entry)
        if isinstance(err, OSError):
            raise DownloadError(f"{dest}: cannot move the corpus into place ({err})") from None
        raise
