"""The feature store (sertk.data.store): round trip, reuse, recomputation of changed files
and broken shards, failures reported per file, lazy reads with flat memory."""
import json
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from sertk.audio import AudioError, load_audio
from sertk.data.dataset import EpochSampler
from sertk.data.store import FeatureStore, StoredDataset

LAYERS, WIDTH = 3, 64


def fake_compute(waves):
    """Deterministic (T, L, D) features of each wave: T = samples // 160."""
    out = []
    for w in waves:
        frames = max(1, len(w) // 160)
        base = np.resize(w, frames * LAYERS * WIDTH).reshape(frames, LAYERS, WIDTH)
        out.append(base + np.arange(LAYERS)[None, :, None])
    return out


def load(path):
    return load_audio(path, 16000)


def write_clips(root, n, seconds=0.1, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = root / f"c{i:05d}.wav"
        samples = int(16000 * seconds * (1 + i % 3) / 3) + 160
        sf.write(path, (0.1 * rng.standard_normal(samples)).astype(np.float32), 16000)
        paths.append(str(path))
    return paths


def test_round_trip_and_reuse(tmp_path):
    paths = write_clips(tmp_path / "wav", 7)
    store = FeatureStore(tmp_path / "store", {"encoder": "e1", "layers": [0, 1, 2]})
    report = store.build(paths, fake_compute, load, batch_size=3, progress=False,
                         shard_bytes=5_000)  # several shards
    assert (report.computed, report.reused, report.failures) == (7, 0, [])
    assert len(list(store.directory.glob("shard-*.npy"))) > 1
    dataset = StoredDataset(store.open(), paths, list(range(7)))
    for i, path in enumerate(paths):
        feats, frames, target, index = dataset[i]
        want = fake_compute([load(path)])[0].astype(np.float16).astype(np.float32)
        assert feats.shape == (LAYERS, frames, WIDTH) and (target, index) == (i, i)
        np.testing.assert_array_equal(feats.permute(1, 0, 2).numpy(), want)
    again = store.build(paths, fake_compute, load, progress=False)
    assert (again.computed, again.reused) == (0, 7)


def test_description_keys_the_store(tmp_path):
    a = FeatureStore(tmp_path, {"encoder": "e1", "layers": [0, 1]})
    b = FeatureStore(tmp_path, {"encoder": "e1", "layers": [0, 2]})
    c = FeatureStore(tmp_path, {"encoder": "e2", "layers": [0, 1]})
    assert len({a.directory, b.directory, c.directory}) == 3


def test_changed_file_is_recomputed(tmp_path):
    paths = write_clips(tmp_path / "wav", 2)
    store = FeatureStore(tmp_path / "store", {"encoder": "e1"})
    store.build(paths, fake_compute, load, progress=False)
    sf.write(paths[0], np.ones(800, np.float32) * 0.5, 16000)
    report = store.build(paths, fake_compute, load, progress=False)
    assert (report.computed, report.reused) == (1, 1)
    feats = StoredDataset(store.open(), paths[:1], [0])[0][0]
    assert feats.shape[1] == 5 and torch.allclose(feats[0], torch.full_like(feats[0], 0.5))


def test_bad_files_are_reported_and_the_rest_stored(tmp_path):
    paths = write_clips(tmp_path / "wav", 3)
    bad = tmp_path / "wav" / "bad.wav"
    bad.write_bytes(b"not audio at all")
    missing = str(tmp_path / "wav" / "missing.wav")
    store = FeatureStore(tmp_path / "store", {"encoder": "e1"})
    report = store.build([paths[0], str(bad), missing, *paths[1:]], fake_compute, load,
                         progress=False)
    assert report.computed == 3
    assert sorted(p for p, _ in report.failures) == sorted([str(bad), missing])
    with pytest.raises(KeyError, match="bad.wav: not in the feature store"):
        StoredDataset(store.open(), [bad], [0])


@pytest.mark.parametrize("damage", ["no-json", "bad-json", "entry-outside", "pickled-array",
                                    "wrong-dtype", "truncated"])
def test_broken_shard_is_ignored_and_recomputed(tmp_path, damage):
    paths = write_clips(tmp_path / "wav", 2)
    store = FeatureStore(tmp_path / "store", {"encoder": "e1"})
    store.build(paths, fake_compute, load, progress=False)
    (meta,) = store.directory.glob("shard-*.json")
    array = meta.with_suffix(".npy")
    if damage == "no-json":
        meta.unlink()  # an interrupted write: the array without its index
    elif damage == "bad-json":
        meta.write_text("{not json")
    elif damage == "entry-outside":
        data = json.loads(meta.read_text())
        key = next(iter(data["entries"]))
        data["entries"][key] = [0, 10 ** 9]
        meta.write_text(json.dumps(data))
    elif damage == "pickled-array":
        np.save(array, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif damage == "truncated":
        with open(array, "r+b") as fh:
            fh.truncate(array.stat().st_size - 100)
    else:
        np.save(array, np.zeros((5, LAYERS, WIDTH), np.float64))
    assert store.open().index == {}
    report = store.build(paths, fake_compute, load, progress=False)
    assert report.computed == 2
    assert len(StoredDataset(store.open(), paths, [0, 1])) == 2


def test_a_shard_truncated_after_opening_is_an_error_naming_it(tmp_path):
    paths = write_clips(tmp_path / "wav", 2)
    store = FeatureStore(tmp_path / "store", {"encoder": "e1"})
    store.build(paths, fake_compute, load, progress=False)
    dataset = StoredDataset(store.open(), paths, [0, 1])
    (array,) = store.directory.glob("shard-*.npy")
    with open(array, "r+b") as fh:
        fh.truncate(200)
    with pytest.raises(OSError, match="truncated shard"):
        dataset[1]


def test_collate_pads_with_zeros_and_lengths(tmp_path):
    paths = write_clips(tmp_path / "wav", 3)
    store = FeatureStore(tmp_path / "store", {"encoder": "e1"})
    store.build(paths, fake_compute, load, progress=False)
    dataset = StoredDataset(store.open(), paths, [0, 1, 2])
    batch = dataset.collate([dataset[i] for i in range(3)])
    lengths = batch.lengths.tolist()
    assert batch.features.shape == (3, LAYERS, max(lengths), WIDTH)
    for row, n in enumerate(lengths):
        assert torch.equal(batch.features[row, :, :n], dataset[row][0])
        assert not batch.features[row, :, n:].any()


def _epoch_peak(tmp_path, n):
    """Peak Python-traced bytes of one shuffled training epoch over ``n`` stored clips
    (the store's index and the dataset, made before, hold a few ints per clip)."""
    paths = write_clips(tmp_path / f"wav{n}", n, seconds=0.3)
    store = FeatureStore(tmp_path / f"store{n}", {"encoder": "e1"})
    store.build(paths, fake_compute, load, batch_size=16, progress=False)
    reader = store.open()
    dataset = StoredDataset(reader, paths, [i % 4 for i in range(n)])
    loader = DataLoader(dataset, batch_size=8, sampler=EpochSampler(n, seed=0),
                        collate_fn=dataset.collate)
    tracemalloc.start()
    try:
        seen = sum(len(batch.targets) for batch in loader)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == n
    return peak, sum(f.stat().st_size for f in store.directory.glob("shard-*.npy"))


def test_reading_memory_is_flat_as_the_corpus_grows(tmp_path):
    small, small_disk = _epoch_peak(tmp_path, 60)
    large, large_disk = _epoch_peak(tmp_path, 600)
    assert large_disk > 9 * small_disk  # ten times the features on disk...
    # ...read one batch at a time: what memory grows by (the sampler's order, a few bytes
    # per clip) is a small fraction of what the features grow by on disk
    assert large - small < 0.05 * (large_disk - small_disk), (small, large, large_disk)
    assert large < 0.2 * large_disk
