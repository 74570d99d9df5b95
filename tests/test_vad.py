"""Voice activity detection: the PyTorch port against the package's own model, and real audio."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from sertk.vad import SileroVAD, VADOptions, speech_fraction, speech_regions

RATE = SileroVAD.sample_rate


@pytest.fixture(scope="module")
def speech(emodb_dir) -> np.ndarray:
    """A real EmoDB-2s utterance at 16 kHz, cut to its voiced part (about 1.7 s)."""
    wave, rate = sf.read(emodb_dir / "wav" / "03a01Wa.wav", dtype="float32")
    return soxr.resample(wave, rate, RATE).astype(np.float32)


def _blocks(wave: np.ndarray, size: int):
    return [wave[i:i + size] for i in range(0, wave.size, size)]


def test_port_equals_the_packaged_torchscript_model(speech):
    import silero_vad

    threads = torch.get_num_threads()
    reference = silero_vad.load_silero_vad()  # the package's TorchScript model (test only)
    torch.set_num_threads(threads)
    names = {"stft.forward_basis_buffer": "stft_conv.weight",
             "decoder.decoder.2.weight": "final_conv.weight",
             "decoder.decoder.2.bias": "final_conv.bias"}
    names.update({f"encoder.{i}.reparam_conv.{p}": f"conv{i + 1}.{p}"
                  for i in range(4) for p in ("weight", "bias")})
    names.update({f"decoder.rnn.{p}": f"lstm.{p}_l0"
                  for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    port = SileroVAD()
    port.load_state_dict({names[k]: v for k, v in reference._model.state_dict().items()})
    port.eval()
    silence = np.zeros(RATE, dtype=np.float32)
    wave = np.concatenate([silence, speech, silence, speech[:1000]])  # not a whole frame
    expected = reference.audio_forward(torch.from_numpy(wave)[None], RATE)[0].numpy()
    got = port.frame_probabilities(_blocks(wave, 3333))  # blocks cut across frames
    assert got.shape == expected.shape == (-(-wave.size // 512),)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_block_size_does_not_change_the_probabilities(speech):
    vad = SileroVAD.pretrained()
    whole = vad.frame_probabilities([speech])
    np.testing.assert_allclose(vad.frame_probabilities(_blocks(speech, 700)), whole, atol=1e-5)


def test_loading_and_regions_keep_the_thread_count():
    # importing silero_vad sets one thread process-wide; a fresh process sees the first import
    code = ("import numpy as np, torch; torch.set_num_threads(2)\n"
            "from sertk.vad import SileroVAD, speech_regions\n"
            "vad = SileroVAD.pretrained()\n"
            "speech_regions(vad.frame_probabilities([np.ones(9000, np.float32)]), vad)\n"
            "print(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2"]


@pytest.mark.parametrize("kind", ["digital silence", "low noise", "hum"])
def test_no_speech_is_found_in_non_speech(kind):
    rng = np.random.default_rng(0)
    t = np.arange(3 * RATE) / RATE
    wave = {"digital silence": np.zeros(t.size),
            "low noise": 0.003 * rng.standard_normal(t.size),
            "hum": 0.05 * np.sin(2 * np.pi * 50 * t)}[kind].astype(np.float32)
    vad = SileroVAD.pretrained()
    assert speech_regions(vad.frame_probabilities([wave]), vad, total_samples=wave.size) == []


def test_speech_pause_speech_gives_two_regions_around_the_pause(speech):
    vad = SileroVAD.pretrained()
    pause = np.zeros(3 * RATE, dtype=np.float32)
    wave = np.concatenate([speech, pause, speech])
    regions = speech_regions(vad.frame_probabilities(_blocks(wave, 4096)), vad,
                             total_samples=wave.size)
    assert len(regions) == 2
    (_, first_end), (second_start, _) = regions
    speech_seconds = speech.size / RATE
    # the EmoDB clip may end (or start) with a little silence of its own, so the
    # detected pause is at least the inserted 3 s, and never starts inside it late
    assert speech_seconds - 0.7 < first_end <= speech_seconds + 0.1
    assert speech_seconds + 3.0 - 0.1 <= second_start < speech_seconds + 3.0 + 0.7
    assert speech_fraction(regions, speech_seconds + 0.2, speech_seconds + 2.8) == 0.0


def test_speech_fraction():
    regions = [(1.0, 2.0), (3.0, 5.0)]
    assert speech_fraction(regions, 0.0, 1.0) == 0.0
    assert speech_fraction(regions, 1.5, 3.5) == pytest.approx(0.5)
    assert speech_fraction(regions, 3.0, 4.0) == 1.0
    assert speech_fraction(regions, 2.0, 2.0) == 0.0


@pytest.mark.parametrize("field,value", [("threshold", 1.5), ("threshold", -0.1),
                                         ("min_speech", float("nan")), ("speech_pad", -1.0),
                                         ("min_silence", float("inf")),
                                         ("min_speech_fraction", 2.0)])
def test_options_are_checked(field, value):
    with pytest.raises(ValueError, match=field):
        VADOptions(**{field: value})
