"""Reading the head of a file and streaming long files block by block."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sertk.audio import AudioError, load_audio, read_head
from sertk.infer.stream import stream_audio
from tests.infer.tiny import speech_like


@pytest.mark.parametrize("rate, channels", [(16_000, 1), (44_100, 2), (8_000, 1)])
def test_read_head_equals_the_start_of_the_whole_decoded_file(tmp_path, rate, channels):
    wave = speech_like(12.0, rate=rate)
    path = tmp_path / "a.wav"
    sf.write(path, np.repeat(wave[:, None], channels, axis=1), rate, subtype="FLOAT")
    head, info = read_head(path, 4.0)
    whole = load_audio(path)
    assert info.sample_rate == rate and info.duration == pytest.approx(12.0)
    assert 4.0 * 16_000 <= head.size < 5.0 * 16_000
    np.testing.assert_allclose(head[:64_000], whole[:64_000], atol=1e-5)


def test_read_head_refuses_a_header_over_the_limit(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, speech_like(3.0), 16_000)
    with pytest.raises(AudioError, match="over the limit of 2 s.*--segment"):
        read_head(path, 1.0, max_file_seconds=2.0)


@pytest.mark.parametrize("rate, block_seconds", [(16_000, 0.77), (44_100, 1.0), (22_050, 10.0)])
def test_streamed_blocks_concatenate_to_the_decoded_file(tmp_path, rate, block_seconds):
    wave = speech_like(7.3, rate=rate, seed=3)
    path = tmp_path / "a.flac"
    sf.write(path, np.stack([wave, 0.25 * wave], axis=1), rate, subtype="PCM_24")
    blocks = list(stream_audio(path, block_seconds=block_seconds))
    assert len(blocks) >= 7.3 / block_seconds - 1
    streamed = np.concatenate(blocks)
    whole = load_audio(path)
    assert abs(streamed.size - whole.size) <= 1
    n = min(streamed.size, whole.size)
    np.testing.assert_allclose(streamed[:n], whole[:n], atol=1e-5 if rate == 16_000 else 2e-3)


def test_stream_reports_nan_with_its_time(tmp_path):
    wave = speech_like(3.0)
    wave[int(2.5 * 16_000)] = np.inf
    path = tmp_path / "a.wav"
    sf.write(path, wave, 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"NaN or infinite samples \(at 2.50 s\)"):
        list(stream_audio(path, block_seconds=1.0))


def test_stream_of_an_empty_recording_is_an_error(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(0, np.float32), 16_000)
    with pytest.raises(AudioError, match="no audio samples"):
        list(stream_audio(path))
