"""Feature store: expensive front-end outputs computed once, kept on disk, read lazily.

An SSL encoder's hidden states (L chosen layers x T' frames x D) are far larger than
log-mels (13 x 200 x 768 float16 = 4 MB per 4 s clip for a base model), so a corpus's may
not fit in memory. The store keeps them as float16 shards on disk and a
:class:`StoredDataset` holds three integers per utterance: training memory does not grow
with the corpus (the operating system's page cache holds what is being read).

Layout (never pickled; a shard's JSON is written after its array, so a shard without its
JSON is an interrupted write and is ignored)::

    <root>/<store key[:16]>/store.json        what the features are (for people)
    <root>/<store key[:16]>/shard-<id>.npy    float16 (sum of frames, L, D)
    <root>/<store key[:16]>/shard-<id>.json   {"entries": {file key: [offset, frames]}}

``store key`` hashes the description (``{"encoder": fingerprint of the encoder's config and
weights, "layers": [...], "sample_rate", "max_seconds", ...}``), a file's key its identity
(:func:`sertk.data.cache.file_key`), so a changed encoder, layer set or file is recomputed,
never silently reused. Several builders may write into one store at once (each its own shards).

Example:
    >>> store = FeatureStore("/tmp/store", {"encoder": "abc", "layers": [0, 1]})  # doctest: +SKIP
    >>> store.build(utterances, compute, load_wave).raise_for_failures()    # doctest: +SKIP
    >>> dataset = StoredDataset(store.open(), utterances, targets)          # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from sertk.audio import AudioError
from sertk.data.cache import BuildReport, Source, _path_of, file_key
from sertk.data.dataset import Batch
from sertk.fileio import atomic_open, atomic_write, read_text

FORMAT_VERSION = 1
#: a shard is written once it holds this many bytes (bounded memory while building)
SHARD_BYTES = 64 << 20
#: open files kept by a reader
OPEN_SHARDS = 8
MAX_INDEX_BYTES = 64 << 20

log = logging.getLogger(__name__)

Compute = Callable[[list[np.ndarray]], list[np.ndarray]]


def store_key(description: dict) -> str:
    """Hex digest of what the stored values are (sorted JSON of ``description``)."""
    text = json.dumps({"format": FORMAT_VERSION, **description}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class StoreReader:
    """Index of a store and lazy reads of its entries.

    ``entry(key)`` -> (shard number, offset, frames) or None; ``read(shard, offset, frames)``
    -> float16 (frames, L, D). Reads are positioned reads of the rows wanted (``os.pread``),
    not memory maps: the process maps nothing, so its resident memory does not grow with
    what it has read (the operating system's page cache, which it can evict, holds that).
    """

    def __init__(self, directory: Path, shards: list[Path],
                 layouts: list[tuple[int, tuple[int, ...]]],
                 index: dict[str, tuple[int, int, int]]):
        self.directory, self.shards, self.layouts, self.index = directory, shards, layouts, index
        self._open: OrderedDict[int, int] = OrderedDict()  # shard -> file descriptor

    def entry(self, key: str) -> tuple[int, int, int] | None:
        return self.index.get(key)

    def read(self, shard: int, offset: int, frames: int) -> np.ndarray:
        start, row_shape = self.layouts[shard]
        row_bytes = 2 * int(np.prod(row_shape))  # float16
        fd = self._fd(shard)
        data = bytearray(frames * row_bytes)  # writable: torch.from_numpy takes it as is
        if os.preadv(fd, [data], start + offset * row_bytes) != len(data):
            raise OSError(f"{self.shards[shard]}: truncated shard (expected "
                          f"{frames * row_bytes} bytes at row {offset})")
        return np.frombuffer(data, dtype=np.float16).reshape(frames, *row_shape)

    def _fd(self, shard: int) -> int:
        fd = self._open.get(shard)
        if fd is None:
            fd = os.open(self.shards[shard], os.O_RDONLY)
            self._open[shard] = fd
            while len(self._open) > OPEN_SHARDS:
                os.close(self._open.popitem(last=False)[1])
        self._open.move_to_end(shard)
        return fd

    def close(self) -> None:
        while self._open:
            os.close(self._open.popitem()[1])

    def __del__(self):
        try:
            self.close()
        except (OSError, AttributeError):
            pass

    def __getstate__(self):  # DataLoader workers open their own files
        return {**self.__dict__, "_open": OrderedDict()}


class FeatureStore:
    """Front-end outputs per audio file, float16, in shards under ``root``, in a directory
    keyed by ``description`` (a plain JSON dict naming what is stored: encoder fingerprint,
    layers, sample rate, max seconds)."""

    def __init__(self, root: str | os.PathLike, description: dict):
        self.description = dict(description)
        self.root = Path(root)
        self.directory = self.root / store_key(self.description)[:16]

    def open(self) -> StoreReader:
        """The current index (complete shards only); malformed shards are skipped."""
        shards, layouts, index = [], [], {}
        if self.directory.is_dir():
            for meta in sorted(self.directory.glob("shard-*.json")):
                shard = self._read_shard(meta)
                if shard is None:
                    continue
                layout, entries = shard
                number = len(shards)
                shards.append(meta.with_suffix(".npy"))
                layouts.append(layout)
                for key, (offset, frames) in entries.items():
                    index[key] = (number, offset, frames)
        return StoreReader(self.directory, shards, layouts, index)

    def _read_shard(self, meta: Path):
        """((data offset, row shape), {key: (offset, frames)}) of a complete, consistent
        shard, or None (with a warning) for anything else."""
        array_path = meta.with_suffix(".npy")
        try:
            if meta.stat().st_size > MAX_INDEX_BYTES:
                raise ValueError(f"index larger than {MAX_INDEX_BYTES} bytes")
            entries = json.loads(read_text(meta))["entries"]
            array = np.load(array_path, mmap_mode="r", allow_pickle=False)
            rows = array.shape[0]
            if array.dtype != np.float16 or array.ndim != 3 or not array.flags.c_contiguous:
                raise ValueError(f"{array.dtype} array of {array.ndim} dimensions")
            layout = (int(array.offset), tuple(int(n) for n in array.shape[1:]))
            out = {}
            for key, (offset, frames) in entries.items():
                if not (isinstance(offset, int) and isinstance(frames, int) and offset >= 0
                        and frames >= 1 and offset + frames <= rows):
                    raise ValueError(f"entry {key[:12]} outside the shard")
                out[str(key)] = (offset, frames)
            del array
            return layout, out
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            log.warning("ignoring store shard %s (%s); its entries are recomputed", meta, err)
            return None

    def build(self, sources: Iterable[Source], compute: Compute,
              load_wave: Callable[[str], np.ndarray], *, batch_size: int = 8,
              progress: bool = True, shard_bytes: int = SHARD_BYTES) -> BuildReport:
        """Store every source not yet stored; carry on past unreadable files.

        ``load_wave(path)`` -> (samples,) float32; ``compute(waves)`` -> one (T_i, L, D)
        array per wave. Memory stays bounded by one batch and one shard (``shard_bytes``).
        """
        sources = [str(_path_of(s)) for s in sources]
        report = BuildReport(total=len(sources))
        reader = self.open()
        pending = report.to_compute(sources, file_key, lambda key: reader.entry(key) is not None)
        if not pending:
            return report
        self.directory.mkdir(parents=True, exist_ok=True)
        description = self.directory / "store.json"
        if not description.is_file():
            atomic_write(description, json.dumps({"format": FORMAT_VERSION,
                                                  **self.description}, indent=2))
        writer = _ShardWriter(self.directory, shard_bytes)
        jobs = list(pending.items())
        with tqdm(total=len(jobs), unit="file", desc="encoder features",
                  disable=not progress) as bar:
            for start in range(0, len(jobs), batch_size):
                keys, waves = [], []
                for key, path in jobs[start:start + batch_size]:
                    try:
                        waves.append(load_wave(path))
                        keys.append(key)
                    except AudioError as err:
                        report.failures.append((path, err.reason))
                for key, feats in zip(keys, compute(waves) if waves else []):
                    writer.add(key, feats)
                    report.computed += 1
                bar.update(len(jobs[start:start + batch_size]))
        writer.flush()
        return report


class _ShardWriter:
    """Collects entries and writes them as one shard (array first, then its JSON)."""

    def __init__(self, directory: Path, shard_bytes: int):
        self.directory, self.shard_bytes = directory, shard_bytes
        self.parts: list[np.ndarray] = []
        self.entries: dict[str, list[int]] = {}
        self.rows = self.size = 0

    def add(self, key: str, feats: np.ndarray) -> None:
        feats = np.asarray(feats, dtype=np.float16)
        if feats.ndim != 3 or feats.shape[0] < 1 or not np.isfinite(feats).all():
            raise ValueError(f"store entries must be finite (T >= 1, L, D) arrays, got "
                             f"{feats.shape}")
        if self.parts and feats.shape[1:] != self.parts[0].shape[1:]:
            raise ValueError(f"entry of shape {feats.shape} in a shard of "
                             f"{self.parts[0].shape[1:]}")
        self.parts.append(feats)
        self.entries[key] = [self.rows, int(feats.shape[0])]
        self.rows += feats.shape[0]
        self.size += feats.nbytes
        if self.size >= self.shard_bytes:
            self.flush()

    def flush(self) -> None:
        if not self.parts:
            return
        name = f"shard-{uuid.uuid4().hex[:16]}"
        with atomic_open(self.directory / f"{name}.npy", "wb") as fh:
            np.save(fh, np.concatenate(self.parts), allow_pickle=False)
        atomic_write(self.directory / f"{name}.json", json.dumps({"entries": self.entries}))
        self.parts, self.entries, self.rows, self.size = [], {}, 0, 0


class StoredDataset(Dataset):
    """Utterances whose features live in a store; ``dataset[i]`` reads one from disk.

    Holds three int64 per utterance (shard, offset, frames), whatever the feature size.
    ``dataset[i]`` is ``(features (L, T, D) float32, T, target, i)``; :meth:`collate` pads
    with zeros into a :class:`~sertk.data.dataset.Batch` of features (B, L, T_max, D) with
    frame ``lengths`` (the model masks the padding).

    Raises:
        KeyError: naming the first utterance the store does not hold.
    """

    def __init__(self, reader: StoreReader, sources: Sequence[Source], targets: Sequence[int]):
        if len(sources) != len(targets):
            raise ValueError(f"{len(sources)} utterances but {len(targets)} targets")
        self.entries = np.empty((len(sources), 3), dtype=np.int64)  # shard, offset, frames
        for row, source in enumerate(sources):
            entry = reader.entry(file_key(_path_of(source)))
            if entry is None:
                raise KeyError(f"{_path_of(source)}: not in the feature store {reader.directory}")
            self.entries[row] = entry
        self.reader = reader
        self.lengths = torch.from_numpy(self.entries[:, 2].copy())
        self.targets = torch.as_tensor(list(targets), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        shard, offset, frames = (int(v) for v in self.entries[i])
        feats = torch.from_numpy(self.reader.read(shard, offset, frames)).permute(1, 0, 2)
        return feats.float(), frames, int(self.targets[i]), i

    def collate(self, samples: Sequence[tuple]) -> Batch:
        feats, lengths, targets, index = zip(*samples)
        n_layers, _, width = feats[0].shape
        x = torch.zeros(len(feats), n_layers, max(lengths), width)
        for row, f in enumerate(feats):
            x[row, :, :f.shape[1]] = f
        return Batch(x, torch.tensor(lengths, dtype=torch.long),
                     torch.tensor(targets, dtype=torch.long), torch.tensor(index, dtype=torch.long))
