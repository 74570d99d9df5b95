"""Voice activity detection: where in a recording somebody is speaking.

An emotion model answers every input with an emotion, silence included, so the prediction paths
ask a voice activity detector first and label the parts without speech ``no-speech``. The
detector here is Silero VAD (the ``silero-vad`` package, MIT), whose 16 kHz weights ship inside
the wheel as safetensors: nothing is downloaded, and nothing is unpickled. Its network is small
(an STFT as a convolution, four convolutions, one LSTM cell, a sigmoid), so :class:`SileroVAD`
rebuilds it in plain PyTorch and loads those weights. That lets it score a whole block of 32 ms
frames with one batched convolution pass and one ``nn.LSTM`` call instead of a Python loop over
frames; a test checks it against the package's own TorchScript model. Turning frame
probabilities into speech regions (hysteresis threshold, minimum speech and silence durations,
padding) is the package's ``get_speech_timestamps_from_probs``.

Any object with the :class:`VoiceActivityDetector` shape (``sample_rate``,
``frame_samples`` and ``frame_probabilities``) can stand in for Silero.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol

import numpy as np
import torch
from torch import nn

NO_SPEECH = "no-speech"


class VoiceActivityDetector(Protocol):
    """Speech probability per frame of ``frame_samples`` samples at ``sample_rate``."""

    sample_rate: int
    frame_samples: int

    def frame_probabilities(self, blocks: Iterable[np.ndarray]) -> np.ndarray:
        """(frames,) speech probabilities of consecutive (n,) blocks of one recording."""


@dataclass(frozen=True)
class VADOptions:
    """When a stretch of audio counts as speech (seconds and probabilities).

    ``threshold``: a frame above it is speech (Silero's default 0.5; it leaves speech
    below ``threshold - 0.15``). Regions shorter than ``min_speech`` are dropped, pauses
    shorter than ``min_silence`` do not split a region, and regions are widened by
    ``speech_pad`` on each side. A window or clip is ``no-speech`` when less than
    ``min_speech_fraction`` of it lies in speech regions.
    """

    threshold: float = 0.5
    min_speech: float = 0.25
    min_silence: float = 0.1
    speech_pad: float = 0.03
    min_speech_fraction: float = 0.3

    def __post_init__(self):
        for name in ("threshold", "min_speech_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"vad {name} must lie in [0, 1], got {value}")
        for name in ("min_speech", "min_silence", "speech_pad"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"vad {name} must be a finite number of seconds >= 0, got {value}")


class SileroVAD(nn.Module):
    """Silero VAD v5 (16 kHz) in plain PyTorch, loaded from the package's safetensors.

    A frame is 512 new samples (32 ms) seen with the 64 samples before it. The
    convolutions see each frame on its own, so a block of frames goes through them as
    one batch; only the LSTM cell carries state from frame to frame.
    """

    sample_rate = 16000
    frame_samples = 512
    context_samples = 64

    def __init__(self):
        super().__init__()
        self.stft_conv = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
        self.conv1 = nn.Conv1d(129, 128, 3, padding=1)
        self.conv2 = nn.Conv1d(128, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, 3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, 128, 3, padding=1)
        self.lstm = nn.LSTM(128, 128, batch_first=True)
        self.final_conv = nn.Conv1d(128, 1, 1)

    @classmethod
    def pretrained(cls) -> "SileroVAD":
        """The weights shipped in the ``silero-vad`` wheel (eval mode)."""
        return _load_pretrained()

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 576) frames with their context -> (N, 128) features, frames independent."""
        x = nn.functional.pad(frames.unsqueeze(1), (0, 64), mode="reflect")  # (N, 1, 640)
        x = self.stft_conv(x)  # (N, 258, 4): real and imaginary parts of 129 bins
        x = torch.sqrt(x[:, :129] ** 2 + x[:, 129:] ** 2)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = torch.relu(conv(x))
        return x.squeeze(-1)  # (N, 128)

    def forward(self, frames: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """(N, 576) consecutive frames -> ((N,) speech probabilities, LSTM state)."""
        features = self.frame_features(frames).unsqueeze(0)  # (1, N, 128)
        hidden, state = self.lstm(features, state)
        logits = self.final_conv(torch.relu(hidden).transpose(1, 2))  # (1, 1, N)
        return torch.sigmoid(logits)[0, 0], state

    @torch.inference_mode()
    def frame_probabilities(self, blocks: Iterable[np.ndarray]) -> np.ndarray:
        """Stream (n,) 16 kHz blocks -> (ceil(total / 512),) speech probabilities.

        The last partial frame is zero-padded (as the package does). Memory holds one
        block at a time plus the probabilities.
        """
        out: list[np.ndarray] = []
        state = None
        context = np.zeros(self.context_samples, dtype=np.float32)
        pending = np.zeros(0, dtype=np.float32)
        for block in _with_final_padding(blocks, self.frame_samples):
            pending = np.concatenate([pending, np.asarray(block, dtype=np.float32)])
            n = pending.size // self.frame_samples
            if n == 0:
                continue
            used, pending = pending[:n * self.frame_samples], pending[n * self.frame_samples:]
            signal = torch.from_numpy(np.concatenate([context, used]))
            frames = signal.unfold(0, self.frame_samples + self.context_samples,
                                   self.frame_samples)  # (n, 576)
            probs, state = self(frames, state)
            out.append(probs.numpy())
            context = used[-self.context_samples:]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _with_final_padding(blocks: Iterable[np.ndarray], frame: int) -> Iterator[np.ndarray]:
    total = 0
    for block in blocks:
        total += len(block)
        yield block
    if total % frame:
        yield np.zeros(frame - total % frame, dtype=np.float32)


@contextmanager
def _threads_kept() -> Iterator[None]:
    """Importing ``silero_vad`` sets torch to one thread process-wide; undo that."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@lru_cache(maxsize=1)
def _load_pretrained() -> SileroVAD:
    import safetensors.torch

    with _threads_kept():
        path = resources.files("silero_vad.data").joinpath("silero_vad_16k.safetensors")
    with resources.as_file(path) as file:
        state = safetensors.torch.load_file(str(file))
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        state[f"lstm.{name}_l0"] = state.pop(f"lstm_cell.{name}")
    model = SileroVAD()
    model.load_state_dict(state)
    return model.eval()


def speech_regions(probabilities: np.ndarray, vad: VoiceActivityDetector,
                   options: VADOptions = VADOptions(),
                   total_samples: int | None = None) -> list[tuple[float, float]]:
    """Frame probabilities -> speech regions ``[(start, end), ...]`` in seconds, in order."""
    if len(probabilities) == 0:
        return []
    with _threads_kept():
        from silero_vad import get_speech_timestamps_from_probs

        stamps = get_speech_timestamps_from_probs(
            [float(p) for p in probabilities], sampling_rate=vad.sample_rate,
            threshold=options.threshold,
            min_speech_duration_ms=round(options.min_speech * 1000),
            min_silence_duration_ms=round(options.min_silence * 1000),
            speech_pad_ms=round(options.speech_pad * 1000),
            audio_length_samples=total_samples)
    rate = vad.sample_rate
    return [(s["start"] / rate, s["end"] / rate) for s in stamps]


def detect_speech(blocks: Iterable[np.ndarray], sample_rate: int,
                  options: VADOptions = VADOptions(), *, total_samples: int | None = None,
                  vad: VoiceActivityDetector | None = None) -> list[tuple[float, float]]:
    """Speech regions (seconds) of a recording given as consecutive (n,) blocks at
    ``sample_rate``; resampled to the detector's rate on the fly. Memory: one block."""
    vad = vad or SileroVAD.pretrained()
    seen = 0

    def counted(stream: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        nonlocal seen
        for block in stream:
            seen += len(block)
            yield block

    blocks = counted(blocks)
    if sample_rate != vad.sample_rate:
        blocks = _resampled(blocks, sample_rate, vad.sample_rate)
    probabilities = vad.frame_probabilities(blocks)
    total = seen if total_samples is None else total_samples
    return speech_regions(probabilities, vad, options, round(total * vad.sample_rate / sample_rate))


def _resampled(blocks: Iterable[np.ndarray], rate_in: int, rate_out: int) -> Iterator[np.ndarray]:
    import soxr

    stream = soxr.ResampleStream(rate_in, rate_out, 1, dtype="float32")
    for block in blocks:
        yield stream.resample_chunk(np.asarray(block, np.float32))
    yield stream.resample_chunk(np.zeros(0, np.float32), last=True)


def has_enough_speech(wave: np.ndarray, sample_rate: int, options: VADOptions) -> bool:
    """Whether the (samples,) clip ``wave`` is speech for at least
    ``options.min_speech_fraction`` of its length: whether a model may be asked about it."""
    regions = detect_speech([wave], sample_rate, options, total_samples=wave.size)
    return speech_fraction(regions, 0.0, wave.size / sample_rate) >= options.min_speech_fraction


def speech_fraction(regions: list[tuple[float, float]], start: float, end: float) -> float:
    """The fraction of ``[start, end)`` seconds covered by ``regions`` (0 for an empty span)."""
    if end <= start:
        return 0.0
    covered = sum(max(0.0, min(end, b) - max(start, a)) for a, b in regions)
    return min(1.0, covered / (end - start))
