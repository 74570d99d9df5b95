"""Feature cache: log-mels computed once per corpus and front-end config, reloaded instantly.

Decoding, resampling and the STFT cost far more than reading 40 x 401 float16 values, and
every fold and epoch of cross-validation needs the same features. The cache stores, per
audio file, the *unpadded* log-mels of the audio truncated to ``config.max_seconds``:
an (n_mels, 1 + min(samples, max_samples) // hop) array. Padding is the dataset's job.

Layout (one small ``.npy`` per file, so writers never contend and a bad entry costs one file)::

    <root>/<config key>/config.json          the front-end numbers, for people
    <root>/<config key>/<k[:2]>/<k>.npy      float16 (n_mels, frames), never pickled

``config key`` hashes ``FORMAT_VERSION`` and the front-end numbers that change the cached
values (:func:`config_key`); ``k`` hashes the file's identity: resolved path, size and
mtime_ns, plus its SHA-256 when ``content_hash=True``. A changed config or file therefore
gets a new key and is recomputed, never silently reused; unreadable or malformed entries are
recomputed and overwritten. Writes go to a temporary file and ``os.replace`` into place, so
concurrent builders and interrupted runs never leave a half-written entry.

Example:
    >>> cache = FeatureCache("/tmp/feats")                      # doctest: +SKIP
    >>> report = cache.build(utterances, num_workers=2)         # doctest: +SKIP
    >>> report.raise_for_failures()                              # doctest: +SKIP
    >>> cache.get(utterances[0]).shape                           # doctest: +SKIP
    (40, 201)
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from sertk.audio import AudioError, read_head
from sertk.data.manifest import Utterance
from sertk.features import NOT_IN_CACHE_KEY, FeatureConfig, LogMel
from sertk.fileio import atomic_open, atomic_write

CACHE_ENV = "SERTK_CACHE"
FORMAT_VERSION = 1  # bump when the stored values change meaning
BATCH_SIZE = 16

Source = Utterance | str | os.PathLike

log = logging.getLogger(__name__)


class FeatureCacheError(RuntimeError):
    """Some files could not be featurised; ``failures`` lists (path, reason) for each."""

    def __init__(self, failures: Sequence[tuple[str, str]]):
        self.failures = list(failures)
        shown = "\n".join(f"  {path}: {reason}" for path, reason in self.failures[:20])
        more = f"\n  ... and {len(self.failures) - 20} more" if len(self.failures) > 20 else ""
        super().__init__(f"{len(self.failures)} file(s) failed:\n{shown}{more}")


@dataclass
class BuildReport:
    """What :meth:`FeatureCache.build` did. ``failures`` holds (path, reason) pairs."""

    total: int = 0
    computed: int = 0
    reused: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def raise_for_failures(self) -> None:
        """Raise :class:`FeatureCacheError` naming every failed file, if any failed."""
        if self.failures:
            raise FeatureCacheError(self.failures)

    def to_compute(self, paths: Iterable[str], key_of: Callable[[str], Any],
                   is_stored: Callable[[Any], bool]) -> dict:
        """``{key: path}`` of the ``paths`` whose key is not stored yet (a key listed twice
        is computed once); the others count as reused, and a path ``key_of`` refuses with an
        :class:`~sertk.audio.AudioError` as a failure."""
        pending = {}
        for path in paths:
            try:
                key = key_of(path)
            except AudioError as err:
                self.failures.append((path, err.reason))
                continue
            if key in pending or is_stored(key):
                self.reused += 1
            else:
                pending[key] = path
        return pending


def default_cache_root() -> Path:
    """``$SERTK_CACHE`` if set, else ``~/.cache/sertk/features``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sertk" / "features"


def config_key(config: FeatureConfig) -> str:
    """Hex digest of the numbers that determine cached values (all but ``padding`` and
    ``normalisation``, which change how cached values are used)."""
    numbers = {k: v for k, v in config.to_dict().items() if k not in NOT_IN_CACHE_KEY}
    text = json.dumps({"format": FORMAT_VERSION, **numbers}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def file_key(path: str | os.PathLike, *, content_hash: bool = False) -> str:
    """Hex digest of a file's identity: resolved path, size, mtime_ns (and content);
    :class:`~sertk.audio.AudioError` if it is missing or not a regular file."""
    path = Path(path)
    try:
        resolved = path.resolve()
        stat = resolved.stat()
    except OSError as err:
        raise AudioError(path, f"file not found ({err.strerror or err})") from None
    if not resolved.is_file():
        raise AudioError(path, "not a regular file")
    identity = {"path": str(resolved), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if content_hash:
        identity["sha256"] = _sha256_file(resolved)
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def load_clip(path: str | os.PathLike, config: FeatureConfig) -> np.ndarray:
    """(samples,) float32 audio at ``config.sample_rate``, truncated to ``config.max_samples``:
    the audio prediction reads of the file (:func:`sertk.audio.read_head`, which decodes only
    that much), so a model trains on what it will be shown."""
    return read_head(path, config.max_seconds, config.sample_rate)[0][: config.max_samples]


def logmel_batch(waves: Sequence[np.ndarray], logmel: LogMel) -> list[np.ndarray]:
    """Unpadded log-mels of each (samples,) wave: a list of float32 (n_mels, frames). The
    waves are zero-padded into one batch; centred framing makes each one's valid frames
    identical to computing it alone."""
    if not waves:
        return []
    width = max(len(w) for w in waves)
    batch = np.zeros((len(waves), width), np.float32)
    for i, wave in enumerate(waves):
        batch[i, : len(wave)] = wave
    with torch.inference_mode():
        feats, frames = logmel(torch.from_numpy(batch), torch.tensor([len(w) for w in waves]))
    return [f[:, :n].numpy().copy() for f, n in zip(feats, frames.tolist())]


def compute_features(paths: Iterable[str | os.PathLike], config: FeatureConfig | None = None,
                     *, batch_size: int = BATCH_SIZE) -> list[np.ndarray]:
    """Log-mels of each file without any cache: float32 (n_mels, frames) per path;
    :class:`~sertk.audio.AudioError` for the first file that cannot be used."""
    config = config or FeatureConfig()
    logmel = LogMel(config)
    paths = list(paths)
    out: list[np.ndarray] = []
    for start in range(0, len(paths), batch_size):
        waves = [load_clip(p, config) for p in paths[start:start + batch_size]]
        out.extend(logmel_batch(waves, logmel))
    return out


class FeatureCache:
    """Log-mels on disk, keyed by front-end config and file identity.

    Args:
        root: cache root; default :func:`default_cache_root`.
        config: the front-end; default ``FeatureConfig()``.
        content_hash: also hash each file's bytes into its key (catches edits that keep
            size and mtime, at the cost of reading every file on each lookup).
    """

    def __init__(self, root: str | os.PathLike | None = None,
                 config: FeatureConfig | None = None, *, content_hash: bool = False):
        self.config = config or FeatureConfig()
        self.root = Path(root) if root is not None else default_cache_root()
        self.directory = self.root / config_key(self.config)[:16]
        self.content_hash = content_hash
        self._logmel = LogMel(self.config)

    def entry_path(self, source: Source) -> Path:
        """Where the features of ``source`` live (whether or not they exist yet)."""
        key = file_key(_path_of(source), content_hash=self.content_hash)
        return self.directory / key[:2] / f"{key}.npy"

    def load(self, source: Source) -> np.ndarray | None:
        """Cached float32 (n_mels, frames) for ``source``, or None on a miss."""
        return self._read(self.entry_path(source))

    def get(self, source: Source) -> np.ndarray:
        """Float32 (n_mels, frames) for ``source``, computed and stored on a miss;
        :class:`~sertk.audio.AudioError` if the file is missing or not usable audio."""
        entry = self.entry_path(source)
        feats = self._read(entry)
        if feats is None:
            feats = logmel_batch([load_clip(_path_of(source), self.config)], self._logmel)[0]
            self._write_config()
            feats = self._write(entry, feats)
        return feats

    def __contains__(self, source: Source) -> bool:
        try:
            return self.load(source) is not None
        except AudioError:
            return False

    def build(self, sources: Iterable[Source], *, num_workers: int = 1, progress: bool = True,
              batch_size: int = BATCH_SIZE) -> BuildReport:
        """Make sure every source is cached, carrying on past bad files: the report's
        ``failures`` name each file that could not be used and why
        (``report.raise_for_failures()`` makes them fatal)."""
        paths = [str(_path_of(source)) for source in sources]
        report = BuildReport(total=len(paths))
        pending = report.to_compute(paths, self.entry_path,
                                    lambda entry: self._read(entry) is not None)
        self._write_config()
        jobs = list(pending.items())
        batches = [jobs[i:i + batch_size] for i in range(0, len(jobs), batch_size)]
        lock = threading.Lock()
        with tqdm(total=len(jobs), unit="file", desc="features", disable=not progress) as bar:
            def run(batch: list[tuple[Path, str]]) -> None:
                computed, failures = self._compute_batch(batch)
                with lock:
                    report.computed += computed
                    report.failures.extend(failures)
                    bar.update(len(batch))

            if num_workers <= 1:
                for batch in batches:
                    run(batch)
            else:
                with ThreadPoolExecutor(max_workers=num_workers) as pool:
                    list(pool.map(run, batches))  # re-raises the first unexpected error
        return report

    def _compute_batch(self, batch: list[tuple[Path, str]]) -> tuple[int, list[tuple[str, str]]]:
        waves, entries, failures = [], [], []
        for entry, path in batch:
            try:
                waves.append(load_clip(path, self.config))
                entries.append(entry)
            except AudioError as err:
                failures.append((path, err.reason))
        for entry, feats in zip(entries, logmel_batch(waves, self._logmel)):
            self._write(entry, feats)
        return len(entries), failures

    def _read(self, entry: Path) -> np.ndarray | None:
        """The entry as float32, or None if it is missing or malformed (then it is recomputed)."""
        if not entry.is_file():
            return None
        try:
            feats = np.load(entry, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            log.warning("recomputing unreadable cache entry %s (%s)", entry, err)
            return None
        c = self.config
        if not (isinstance(feats, np.ndarray) and feats.dtype == np.float16 and feats.ndim == 2
                and feats.shape[0] == c.n_mels and 1 <= feats.shape[1] <= c.max_frames
                and np.isfinite(feats).all()):
            log.warning("recomputing malformed cache entry %s", entry)
            return None
        return feats.astype(np.float32)

    def _write(self, entry: Path, feats: np.ndarray) -> np.ndarray:
        """Store float16 atomically; returns what a later read will give (float32)."""
        stored = feats.astype(np.float16)
        with atomic_open(entry, "wb", durable=False) as fh:  # rebuilt if a power cut loses it
            np.save(fh, stored, allow_pickle=False)
        return stored.astype(np.float32)

    def _write_config(self) -> None:
        path = self.directory / "config.json"
        if path.is_file():
            return
        atomic_write(path, json.dumps({"format": FORMAT_VERSION, "config": self.config.to_dict()},
                                      indent=2, sort_keys=True))


def _path_of(source: Source) -> Path:
    return Path(source.path if isinstance(source, Utterance) else source)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
