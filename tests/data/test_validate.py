"""Tests for sertk.data.validate: audio checks, duplicate ids, stop or skip."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from sertk.audio import AudioError
from sertk.data.manifest import Utterance
from sertk.data.validate import (MIN_SECONDS, Candidate, CorpusError, PreparedCorpus, Skipped,
                                 check_audio, finish, wav_truncation)
from tests.data.bad_audio import BAD_AUDIO, wav_bytes, write_bad, write_wav


def test_check_audio_returns_the_duration_of_a_good_file(tmp_path):
    path = write_wav(tmp_path / "a.wav", samples=2205, rate=22_050)
    assert check_audio(path) == pytest.approx(0.1)
    assert check_audio(path, decode=False) == pytest.approx(0.1)


def test_check_audio_accepts_stereo_float_and_flac(tmp_path):
    wave = np.random.default_rng(0).normal(0, 0.1, (800, 2)).astype(np.float32)
    sf.write(tmp_path / "s.wav", wave, 8000, subtype="FLOAT")
    sf.write(tmp_path / "s.flac", wave, 8000)
    assert check_audio(tmp_path / "s.wav") == pytest.approx(0.1)
    assert check_audio(tmp_path / "s.flac") == pytest.approx(0.1)


@pytest.mark.parametrize("kind", sorted(BAD_AUDIO))
def test_check_audio_names_file_and_reason(tmp_path, kind):
    path = tmp_path / "bad.wav"
    reason = write_bad(kind, path)
    with pytest.raises(AudioError) as err:
        check_audio(path)
    assert str(path) in str(err.value) and reason in str(err.value)


def test_header_only_check_misses_nan_but_not_the_rest(tmp_path):
    write_bad("nan", tmp_path / "nan.wav")
    assert check_audio(tmp_path / "nan.wav", decode=False) > 0
    for kind in ("missing", "empty", "truncated", "not audio", "too short"):
        write_bad(kind, tmp_path / f"{kind}.wav")
        with pytest.raises(AudioError):
            check_audio(tmp_path / f"{kind}.wav", decode=False)


def test_minimum_length_is_one_window_at_any_rate(tmp_path):
    assert MIN_SECONDS == pytest.approx(0.025)
    check_audio(write_wav(tmp_path / "ok16.wav", samples=400, rate=16_000))
    check_audio(write_wav(tmp_path / "ok8.wav", samples=200, rate=8_000))
    with pytest.raises(AudioError, match="too short"):
        check_audio(write_wav(tmp_path / "short8.wav", samples=199, rate=8_000))


def test_wav_truncation_ignores_streaming_headers_and_other_formats(tmp_path):
    data = bytearray(wav_bytes(1600))
    pos = data.index(b"data")
    data[pos + 4: pos + 8] = (0xFFFFFFFF).to_bytes(4, "little")  # "length unknown"
    (tmp_path / "stream.wav").write_bytes(bytes(data[: len(data) // 2]))
    assert wav_truncation(tmp_path / "stream.wav") is None
    (tmp_path / "x.txt").write_text("hello")
    assert wav_truncation(tmp_path / "x.txt") is None
    (tmp_path / "cut.wav").write_bytes(wav_bytes(1600)[:1000])
    assert "declares 3200 bytes" in wav_truncation(tmp_path / "cut.wav")


def _cands(tmp_path, names):
    return [Candidate(Utterance(id=n.split(".")[0], path=str(write_wav(tmp_path / n)), label="a"))
            for n in names]


def test_finish_sorts_sets_duration_and_corpus(tmp_path):
    out = finish("demo", _cands(tmp_path, ["b.wav", "a.wav"]))
    assert isinstance(out, PreparedCorpus) and isinstance(out, list)
    assert [u.id for u in out] == ["a", "b"]
    assert all(u.duration == pytest.approx(0.1) and u.corpus == "demo" for u in out)
    assert out.skipped == [] and out.excluded == {}


def test_duplicate_ids_name_both_files(tmp_path):
    cands = _cands(tmp_path, ["x.wav", "x.flac.wav", "y.wav"])  # ids x, x, y
    with pytest.raises(CorpusError) as err:
        finish("demo", cands)
    assert "duplicate id 'x'" in str(err.value)
    assert str(tmp_path / "x.wav") in str(err.value)
    assert str(tmp_path / "x.flac.wav") in str(err.value)
    out = finish("demo", cands, skip_bad=True)
    assert [u.id for u in out] == ["y"]
    assert sorted(s.path for s in out.skipped) == sorted(
        [str(tmp_path / "x.wav"), str(tmp_path / "x.flac.wav")])


def test_skip_bad_lists_every_bad_file_and_keeps_the_rest(tmp_path):
    cands = _cands(tmp_path, ["good.wav"])
    for kind in BAD_AUDIO:
        path = tmp_path / f"{kind}.wav"
        write_bad(kind, path)
        cands.append(Candidate(Utterance(id=kind, path=str(path), label="a")))
    early = [Skipped("list.txt:3", "unknown label")]
    with pytest.raises(CorpusError, match="list.txt:3: unknown label"):
        finish("demo", cands, early)
    out = finish("demo", cands, early, {"label z": 2}, skip_bad=True)
    assert [u.id for u in out] == ["good"]
    assert len(out.skipped) == len(BAD_AUDIO) + 1 and out.skipped[0] == early[0]
    reasons = {s.path: s.reason for s in out.skipped}
    for kind, (_, reason) in BAD_AUDIO.items():
        assert reason in reasons[str(tmp_path / f"{kind}.wav")]
    assert out.excluded == {"label z": 2}


def _sparse_wav(path, seconds: float, rate: int = 16_000) -> None:
    """A 16-bit mono WAV of ``seconds`` of silence whose data is a hole (costs no disk)."""
    frames = int(seconds * rate)
    header = wav_bytes(1, rate)[:-2]  # a one-sample file, minus its sample
    header = header[:4] + (len(header) - 8 + 2 * frames).to_bytes(4, "little") + header[8:]
    header = header[:-4] + (2 * frames).to_bytes(4, "little")
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + 2 * frames)


def _peak_traced_bytes(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_check_audio_decodes_in_blocks_memory_flat_in_file_length(tmp_path):
    """prepare validates a 25-minute file without holding it: peak memory is one block's,
    the same for 2 and 25 minutes (all of it as float32 would be 96 MB)."""
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    _sparse_wav(short, 120.0)
    _sparse_wav(long, 1500.0)
    assert check_audio(long) == pytest.approx(1500.0)
    peak_short = _peak_traced_bytes(lambda: check_audio(short))
    peak_long = _peak_traced_bytes(lambda: check_audio(long))
    whole = 1500 * 16_000 * 4
    assert peak_long < whole / 4
    assert peak_long < peak_short * 1.25 + (1 << 20)


def test_check_audio_finds_nan_and_truncation_past_the_first_block(tmp_path):
    wave = np.zeros(3 * 16_000 * 60, dtype=np.float32)  # 3 minutes: several blocks
    wave[-5] = np.nan
    sf.write(tmp_path / "nan.wav", wave, 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite samples"):
        check_audio(tmp_path / "nan.wav")
    noise = np.random.default_rng(0).normal(0, 0.1, wave.shape).astype(np.float32)
    sf.write(tmp_path / "cut.flac", noise, 16_000)
    data = (tmp_path / "cut.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(AudioError, match=r"cannot decode audio after 1[23]\d\.\d s"):
        check_audio(tmp_path / "cut.flac")


def test_an_undecodable_media_file_is_named_with_its_format_as_prediction_names_it(tmp_path):
    """prepare and predict give one reason for a format libsndfile does not decode."""
    from sertk.audio import checked_info
    from sertk.data.validate import check_audio

    path = tmp_path / "voice.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    with pytest.raises(AudioError) as prepared:
        check_audio(path)
    with pytest.raises(AudioError) as predicted:
        checked_info(path)
    assert "does not decode .m4a files" in str(prepared.value)
    assert str(prepared.value) == str(predicted.value)
