"""sertk.data.cache: hits, misses, invalidation, corruption, failures and value parity."""
from __future__ import annotations

import os
import pickle
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

import sertk.data.cache as cache_mod
from sertk.audio import AudioError, load_audio
from sertk.data.cache import (
    CACHE_ENV,
    FeatureCache,
    FeatureCacheError,
    compute_features,
    config_key,
    default_cache_root,
    file_key,
)
from sertk.data.manifest import Utterance
from sertk.features import FeatureConfig, LogMel

# float16 keeps 11 significant bits: relative rounding error <= 2**-11 (~4.9e-4).
F16_RTOL = 2**-11
F16_ATOL = 1e-6


def _write(path, seconds: float, rate: int = 16_000, seed: int = 0):
    wave = np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * rate)).astype(np.float32)
    sf.write(path, wave, rate, subtype="PCM_16")
    return path


@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    return [_write(folder / f"c{i}.wav", s, seed=i) for i, s in enumerate([0.3, 1.0, 0.05])]


@pytest.fixture
def loads(monkeypatch):
    """Counts audio decodes done by the cache, i.e. feature computations."""
    calls: list[str] = []
    real = cache_mod.read_head

    def counting(path, *args, **kwargs):
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(cache_mod, "read_head", counting)
    return calls


def _reference(path, config=FeatureConfig()) -> np.ndarray:
    wave = load_audio(path, config.sample_rate)[: config.max_samples]
    feats, _ = LogMel(config)(torch.from_numpy(wave)[None])
    return feats[0].numpy()


def test_values_equal_logmel_within_float16(tmp_path, emodb_dir):
    path = sorted((emodb_dir / "wav").glob("*.wav"))[3]
    cache = FeatureCache(tmp_path / "cache")
    feats = cache.get(path)
    ref = _reference(path)
    assert feats.dtype == np.float32 and feats.shape == ref.shape == (40, 201)
    np.testing.assert_allclose(feats, ref, rtol=F16_RTOL, atol=F16_ATOL)
    np.testing.assert_array_equal(cache.get(path), feats)  # the reload gives the same numbers


def test_features_are_unpadded_and_truncated(tmp_path):
    config = FeatureConfig(max_seconds=1.0)
    short = _write(tmp_path / "short.wav", 0.2)
    long = _write(tmp_path / "long.wav", 2.5)
    cache = FeatureCache(tmp_path / "cache", config)
    assert cache.get(short).shape == (40, 1 + 3200 // 160)
    assert cache.get(long).shape == (40, config.max_frames) == (40, 101)
    np.testing.assert_allclose(cache.get(long), _reference(long, config), rtol=F16_RTOL,
                               atol=F16_ATOL)


def test_hit_after_miss_computes_once(tmp_path, clips, loads):
    cache = FeatureCache(tmp_path / "cache")
    assert clips[0] not in cache
    first = cache.get(clips[0])
    assert loads == [str(clips[0])]
    assert clips[0] in cache
    again = cache.get(clips[0])
    assert len(loads) == 1
    np.testing.assert_array_equal(first, again)
    # A new cache object on the same root (a new process) reuses the entry too.
    np.testing.assert_array_equal(FeatureCache(tmp_path / "cache").get(clips[0]), first)
    assert len(loads) == 1


def test_build_then_get_reuses(tmp_path, clips, loads):
    cache = FeatureCache(tmp_path / "cache")
    utts = [Utterance(id=p.stem, path=str(p), label="x") for p in clips]
    report = cache.build(utts, progress=False)
    assert (report.total, report.computed, report.reused, report.failures) == (3, 3, 0, [])
    assert report.ok
    assert len(loads) == 3
    for utt in utts:
        np.testing.assert_allclose(cache.get(utt), _reference(utt.path), rtol=F16_RTOL,
                                   atol=F16_ATOL)
    again = cache.build(clips, progress=False)
    assert (again.computed, again.reused) == (0, 3)
    assert len(loads) == 3


def test_duplicates_in_one_build_are_computed_once(tmp_path, clips, loads):
    report = FeatureCache(tmp_path / "cache").build([clips[0], clips[0], clips[1]],
                                                    progress=False)
    assert (report.computed, report.reused) == (2, 1)
    assert sorted(loads) == sorted(map(str, clips[:2]))


def test_changed_config_recomputes(tmp_path, clips, loads):
    FeatureCache(tmp_path / "cache").get(clips[1])
    other = FeatureCache(tmp_path / "cache", FeatureConfig(n_mels=64))
    assert other.directory != FeatureCache(tmp_path / "cache").directory
    assert other.get(clips[1]).shape[0] == 64
    assert len(loads) == 2


def test_padding_mode_does_not_change_the_key(tmp_path, clips, loads):
    """Cached features are unpadded, so fixed and batch padding share entries."""
    FeatureCache(tmp_path / "cache", FeatureConfig(padding="fixed")).get(clips[1])
    FeatureCache(tmp_path / "cache", FeatureConfig(padding="batch")).get(clips[1])
    assert len(loads) == 1
    assert config_key(FeatureConfig(max_seconds=4)) == config_key(FeatureConfig(max_seconds=4.0))
    assert config_key(FeatureConfig(hop_length=80)) != config_key(FeatureConfig())


def test_touched_file_recomputes(tmp_path, clips, loads):
    cache = FeatureCache(tmp_path / "cache")
    cache.get(clips[0])
    stat = clips[0].stat()
    os.utime(clips[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    cache.get(clips[0])
    assert len(loads) == 2


def test_rewritten_file_gets_new_values(tmp_path, clips, loads):
    cache = FeatureCache(tmp_path / "cache")
    before = cache.get(clips[1])
    _write(clips[1], 0.5, seed=99)  # new size and mtime
    after = cache.get(clips[1])
    assert len(loads) == 2
    assert after.shape != before.shape
    np.testing.assert_allclose(after, _reference(clips[1]), rtol=F16_RTOL, atol=F16_ATOL)


def test_content_hash_catches_same_size_same_mtime_edits(tmp_path, clips, loads):
    path = clips[1]
    stat = path.stat()
    plain = FeatureCache(tmp_path / "plain")
    hashed = FeatureCache(tmp_path / "hashed", content_hash=True)
    plain.get(path), hashed.get(path)
    _write(path, 1.0, seed=42)  # same length, same size, different samples
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_key(path) == file_key(path)  # identity unchanged without content
    hashed.get(path)
    assert len(loads) == 3  # the content hash saw the edit
    np.testing.assert_allclose(hashed.get(path), _reference(path), rtol=F16_RTOL, atol=F16_ATOL)


def test_same_file_via_another_path_shares_entry(tmp_path, clips, loads):
    cache = FeatureCache(tmp_path / "cache")
    cache.get(clips[0])
    cache.get(clips[0].parent / ".." / "audio" / clips[0].name)
    assert len(loads) == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "wrong_shape",
                                    "wrong_dtype", "nan", "pickled"])
def test_corrupt_entry_is_recomputed(tmp_path, clips, loads, damage):
    cache = FeatureCache(tmp_path / "cache")
    good = cache.get(clips[1])
    entry = cache.entry_path(clips[1])
    data = entry.read_bytes()
    if damage == "garbage":
        entry.write_bytes(b"\x93NUMPY" + os.urandom(200))
    elif damage == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "wrong_shape":
        np.save(entry, np.zeros((13, 7), np.float16))
    elif damage == "wrong_dtype":
        np.save(entry, good.astype(np.float64))
    elif damage == "nan":
        np.save(entry, np.full_like(good, np.nan, dtype=np.float16))
    elif damage == "pickled":
        with open(entry, "wb") as fh:
            pickle.dump({"feats": good}, fh)

    again = cache.get(clips[1])

    assert len(loads) == 2
    np.testing.assert_array_equal(again, good)
    assert np.load(entry, allow_pickle=False).dtype == np.float16  # repaired on disk


def test_entries_are_float16_npy_without_pickle(tmp_path, clips):
    cache = FeatureCache(tmp_path / "cache")
    cache.build(clips, progress=False)
    entries = sorted(cache.directory.rglob("*.npy"))
    assert len(entries) == 3
    for entry in entries:
        arr = np.load(entry, allow_pickle=False)
        assert arr.dtype == np.float16 and arr.ndim == 2 and arr.shape[0] == 40
    assert (cache.directory / "config.json").is_file()
    assert not [p for p in cache.directory.rglob("*.tmp")]


def test_build_continues_past_bad_files(tmp_path, clips, loads):
    bad = tmp_path / "audio" / "noise.wav"
    bad.write_bytes(os.urandom(3000))
    missing = tmp_path / "audio" / "missing.wav"
    empty = tmp_path / "audio" / "empty.wav"
    empty.write_bytes(b"")
    sources = [clips[0], bad, missing, clips[1], empty, clips[2]]
    cache = FeatureCache(tmp_path / "cache")

    report = cache.build(sources, progress=False, batch_size=2)

    assert report.total == 6 and report.computed == 3 and not report.ok
    failed = dict(report.failures)
    assert set(failed) == {str(bad), str(missing), str(empty)}
    assert "not a readable audio file" in failed[str(bad)]
    assert "not found" in failed[str(missing)]
    assert "empty" in failed[str(empty)]
    for clip in clips:
        assert clip in cache
    with pytest.raises(FeatureCacheError) as err:
        report.raise_for_failures()
    assert str(bad) in str(err.value) and err.value.failures == report.failures


def test_get_raises_audio_error_naming_the_file(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    with pytest.raises(AudioError, match="missing.wav"):
        cache.get(tmp_path / "missing.wav")
    (tmp_path / "bad.wav").write_bytes(b"RIFF")
    with pytest.raises(AudioError, match="bad.wav"):
        cache.get(tmp_path / "bad.wav")


def test_workers_give_the_same_features(tmp_path, clips):
    many = [shutil.copy(clips[i % 3], tmp_path / "audio" / f"copy{i}.wav") for i in range(8)]
    one = FeatureCache(tmp_path / "one")
    two = FeatureCache(tmp_path / "two")
    assert one.build(many, progress=False, batch_size=3).computed == 8
    assert two.build(many, progress=False, batch_size=3, num_workers=2).computed == 8
    for path in many:
        np.testing.assert_array_equal(one.get(path), two.get(path))


def test_compute_features_without_cache(clips):
    config = FeatureConfig(max_seconds=0.5)
    feats = compute_features(clips, config, batch_size=2)
    assert [f.shape for f in feats] == [(40, 31), (40, 51), (40, 6)]
    for path, f in zip(clips, feats):
        np.testing.assert_allclose(f, _reference(path, config), rtol=0, atol=1e-5)
    with pytest.raises(AudioError, match="nope.wav"):
        compute_features([clips[0], clips[0].parent / "nope.wav"])


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "here"))
    assert default_cache_root() == tmp_path / "here"
    assert FeatureCache().root == tmp_path / "here"
    monkeypatch.delenv(CACHE_ENV)
    assert default_cache_root() == default_cache_root().home() / ".cache" / "sertk" / "features"


def test_concurrent_writers_of_one_entry(tmp_path, clips):
    from concurrent.futures import ThreadPoolExecutor

    cache = FeatureCache(tmp_path / "cache")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: cache.get(clips[1]), range(8)))
    for feats in results:
        np.testing.assert_array_equal(feats, results[0])
    assert not [p for p in cache.directory.rglob("*.tmp")]
    np.testing.assert_array_equal(FeatureCache(tmp_path / "cache").load(clips[1]), results[0])


def test_training_reads_only_the_head_of_a_long_file_as_prediction_does(tmp_path):
    """A clip's training audio is what prediction reads (the first max_seconds), and only
    that much is decoded: memory does not grow with the file's length."""
    import tracemalloc

    from sertk.audio import read_head
    from sertk.data.cache import load_clip

    config = FeatureConfig()
    path = tmp_path / "ten-minutes.wav"
    rng = np.random.default_rng(0)
    sf.write(path, (rng.standard_normal(8000 * 600) * 3000).astype(np.int16), 8000,
             subtype="PCM_16")
    tracemalloc.start()
    try:
        wave = load_clip(path, config)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert wave.shape == (config.max_samples,)
    assert np.array_equal(wave, read_head(path, config.max_seconds)[0][: config.max_samples])
    assert peak < 4_000_000  # the whole file decoded would be 19 MB of float32
