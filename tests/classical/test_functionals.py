"""openSMILE functionals (eGeMAPS, ComParE): real clips, the cache, short and broken files."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sertk.audio import AudioError
from sertk.classical.functionals import EGEMAPS_DIM, FEATURE_SETS, FunctionalsExtractor


@pytest.fixture(scope="module")
def clips(emodb_dir):
    return sorted((emodb_dir / "wav").glob("03a01*.wav"))[:3]


def test_functionals_of_real_clips_are_finite_and_differ(clips, tmp_path):
    extractor = FunctionalsExtractor(cache_root=tmp_path)
    x, failures = extractor.of_files(clips)
    assert failures == [] and x.shape == (3, EGEMAPS_DIM) and np.isfinite(x).all()
    assert len(extractor.names) == EGEMAPS_DIM and extractor.names[0].startswith("F0semitone")
    assert not np.allclose(x[0], x[1])  # different emotions, different vectors
    f0_mean = x[:, 0]  # semitones from 27.5 Hz: adult speech lies between ~15 and ~45
    assert ((f0_mean > 10) & (f0_mean < 50)).all()


def test_second_extraction_reads_the_cache(clips, tmp_path, monkeypatch):
    extractor = FunctionalsExtractor(cache_root=tmp_path)
    first = extractor.of_file(clips[0])
    monkeypatch.setattr(extractor.smile, "process_signal",
                        lambda *a, **k: pytest.fail("recomputed despite the cache"))
    np.testing.assert_array_equal(extractor.of_file(clips[0]), first)


def test_a_torn_cache_entry_is_recomputed(clips, tmp_path):
    extractor = FunctionalsExtractor(cache_root=tmp_path)
    first = extractor.of_file(clips[0])
    entry = extractor._entry(clips[0])
    entry.write_bytes(entry.read_bytes()[:40])
    np.testing.assert_array_equal(extractor.of_file(clips[0]), first)
    assert np.load(entry, allow_pickle=False).shape == (EGEMAPS_DIM,)


def test_bad_files_are_named_and_the_rest_kept(clips, tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(100, np.float32), 16000)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    extractor = FunctionalsExtractor(cache_root=False)
    x, failures = extractor.of_files([clips[0], short, empty, tmp_path / "missing.wav"])
    assert [p for p, _ in failures] == [str(short), str(empty), str(tmp_path / "missing.wav")]
    assert "too short" in failures[0][1]
    assert np.isfinite(x[0]).all() and np.isnan(x[1:]).all()
    with pytest.raises(AudioError, match="short.wav"):
        extractor.of_file(short)


def test_compare_functionals_have_their_own_size_and_cache(clips, tmp_path):
    egemaps = FunctionalsExtractor(cache_root=tmp_path)
    compare = FunctionalsExtractor("compare", cache_root=tmp_path)
    x, failures = compare.of_files(clips[:2])
    assert failures == [] and x.shape == (2, 6373) == (2, FEATURE_SETS["compare"].dim)
    assert np.isfinite(x).all() and not np.allclose(x[0], x[1])
    assert len(compare.names) == 6373
    # one file, two sets: two cache entries, neither read as the other
    assert compare._entry(clips[0]) != egemaps._entry(clips[0])
    assert egemaps.of_file(clips[0]).shape == (EGEMAPS_DIM,)
    assert compare.of_file(clips[0]).shape == (6373,)


def test_an_unknown_feature_set_is_refused():
    with pytest.raises(ValueError, match="feature set must be one of egemaps, compare"):
        FunctionalsExtractor("mfcc")
