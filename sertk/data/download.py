"""Fetch a public corpus archive, verify it and unpack it safely into a folder.

Only EmoDB (Burkhardt et al., Interspeech 2005; free for research, cite the paper) is
downloadable: IEMOCAP needs a signed licence from USC, so it is never fetched.

``download_corpus("emodb", DIR)`` does, in order, and leaves DIR as it was on any failure:

1. streams the archive over HTTP into a temporary file inside DIR (progress bar, size
   limit, a short read against Content-Length is an error);
2. computes its SHA-256 (returned, and printed by the CLI) and compares it with the pinned
   digest if one is given (``sha256=`` / ``--sha256``); a mismatch stops before anything
   is extracted;
3. extracts it with :mod:`sertk.data.archive` (no member outside DIR, no links or devices,
   bounded unpacked size) into a temporary directory inside DIR;
4. checks that it holds the expected audio files (EmoDB: 535 ``wav/*.wav``);
5. renames the top-level entries into DIR (refusing to overwrite anything), so the corpus
   appears whole or not at all. The temporary archive and directory are always removed.

The canonical archive carries no published checksum, so none is pinned by default: the
digest is printed on every download so that a user can pin it for the next one.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm

from sertk import __version__
from sertk.data.archive import ArchiveError, extract_archive


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
                    timeout: float = 60.0) -> DownloadResult:
    """Download, verify and safely unpack ``corpus`` into ``dest`` (see the module docstring).

    Args:
        corpus: a name in :data:`CORPORA` or a :class:`CorpusSpec`.
        dest: the folder that will hold the corpus (created if missing).
        url: fetch from here instead of the spec's URL (a mirror or a ``file://`` copy).
        sha256: required SHA-256 of the archive (hex), overriding the spec's.
        progress: show a progress bar on stderr.
        timeout: seconds to wait for the server on each read.

    Raises:
        DownloadError: the fetch, checksum, archive or content check failed; ``dest`` is left
            without partial output (and removed again if this call created it).
    """
    spec = _spec(corpus)
    url = url or spec.url
    expected_sha = _check_hex(sha256 or spec.sha256)
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise DownloadError(f"{dest}: exists and is not a directory")
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=".sertk-download-", suffix=".part")
    staging = Path(tempfile.mkdtemp(dir=dest, prefix=".sertk-extract-"))
    ok = False
    try:
        with os.fdopen(fd, "wb") as fh:
            digest = fetch(url, fh, max_bytes=spec.max_download_bytes, progress=progress,
                           timeout=timeout)
        if expected_sha and digest != expected_sha:
            raise DownloadError(f"{url}: SHA-256 mismatch: expected {expected_sha}, got {digest};"
                                " nothing was extracted")
        try:
            extract_archive(tmp_name, staging, max_bytes=spec.max_unpacked_bytes)
        except ArchiveError as err:
            raise DownloadError(f"{url}: {err.reason}; nothing was extracted") from None
        root = _archive_root(staging, spec)
        files = _count_audio(root, spec, url)
        _move_into(root, dest)
        ok = True
    finally:
        Path(tmp_name).unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        if not ok and created and not any(dest.iterdir()):
            dest.rmdir()
    return DownloadResult(spec.name, dest, url, digest, files)


def fetch(url: str, out: BinaryIO, *, max_bytes: int, progress: bool = True,
          timeout: float = 60.0) -> str:
    """Stream ``url`` into ``out``; returns the SHA-256 hex digest of what was received.

    Raises:
        DownloadError: HTTP error, network failure, more than ``max_bytes``, or fewer bytes
            than the server's Content-Length announced.
    """
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https", "file"):
        raise DownloadError(f"{url}: only http, https and file URLs are supported")
    request = urllib.request.Request(url, headers={"User-Agent": f"sertk/{__version__}"})
    digest, received = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > max_bytes:
                raise DownloadError(f"{url}: {total} bytes is over the limit of {max_bytes}")
            name = Path(urllib.parse.urlsplit(url).path).name or url
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                      disable=not progress, leave=False) as bar:
                while chunk := response.read(1 << 16):
                    received += len(chunk)
                    if received > max_bytes:
                        raise DownloadError(f"{url}: more than {max_bytes} bytes, stopped")
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise DownloadError(f"{url}: cannot connect ({err.reason})") from None
    except (OSError, http.client.HTTPException) as err:
        raise DownloadError(f"{url}: download failed ({type(err).__name__}: {err})") from None
    if total is not None and received != total:
        raise DownloadError(f"{url}: connection closed after {received} of {total} bytes")
    return digest.hexdigest()


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
    except OSError as err:
        for entry in reversed(moved):
            (dest / entry.name).rename(entry)
        raise DownloadError(f"{dest}: cannot move the corpus into place ({err})") from None
