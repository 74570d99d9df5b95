"""The log-mel front-end (SPEC section 1) as a batched ``nn.Module``.

40 mel bands (Slaney filters, 0-8 kHz, as librosa's default), 25 ms Hamming
window zero-padded to a 512-point FFT, 10 ms hop, natural log of power + 1e-6.
Frames are centred (the signal is zero-padded by ``n_fft // 2`` on both sides),
so a clip of ``n`` samples gives ``1 + n // hop`` frames, and a clip padded
inside a batch gives exactly the same valid frames as the clip alone.

Two interchangeable STFT kernels compute the same numbers: ``"fft"``
(``torch.stft``, fastest on CPU and GPU) and ``"conv"`` (the windowed DFT as one
matrix product on the analysis windows, which every ONNX runtime can execute; it was a
strided ``conv1d``, hence the name).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from sertk.audio import HOP_LENGTH, MAX_SECONDS, N_FFT, N_MELS, SAMPLE_RATE, WIN_LENGTH
from sertk.configfields import bounded, check_fields
from sertk.padding import Padding

NORMALISATIONS = ("fold", "utterance", "speaker")
# FeatureConfig fields that change how cached log-mels are used, not their values
NOT_IN_CACHE_KEY = ("padding", "normalisation")
# Upper bounds of a FeatureConfig (a checkpoint's JSON is not trusted): generous for any
# speech front-end, small enough that the buffers and a padded clip stay bounded.
MAX_SAMPLE_RATE = 192_000
MAX_N_FFT = 16_384
MAX_N_MELS = 512
MAX_CLIP_SECONDS = 600.0
# Samples per STFT call on CPU (8 s of 16 kHz audio): the spectra of a few clips stay in
# cache, a whole batch's do not. A batch of 32 clips of 4 s takes ~2x less CPU time (~4x
# less wall time on 2 threads) in parts of 2 clips than at once; results are identical.
CPU_CHUNK_SAMPLES = 128_000


@dataclass(frozen=True)
class FeatureConfig:
    """Every number of the front-end; saved with each model and part of the cache key.

    ``padding``: ``"fixed"`` or ``"batch"``, how clips are batched for the model
    (:attr:`padder`, :mod:`sertk.padding`); saved here, not part of the cache key.

    ``normalisation``: what the log-mels are standardised with before the training
    fold's per-feature statistics: ``"fold"`` nothing more (the paper); ``"utterance"``
    each clip's own mean and std per band (:func:`standardise_utterances`);
    ``"speaker"`` each speaker's, from several of its recordings. Both need
    ``padding="batch"`` (padded frames are then masked, never standardised).

    Every field is checked on creation (type, finite, range: :mod:`sertk.configfields`),
    however the config is made: from options, a recipe or a checkpoint's JSON.
    """

    sample_rate: int = bounded(SAMPLE_RATE, 1_000, MAX_SAMPLE_RATE)
    n_fft: int = bounded(N_FFT, 16, MAX_N_FFT)
    win_length: int = bounded(WIN_LENGTH, 1, MAX_N_FFT)
    hop_length: int = bounded(HOP_LENGTH, 1, MAX_N_FFT)
    n_mels: int = bounded(N_MELS, 1, MAX_N_MELS)
    f_min: float = bounded(0.0, 0.0)
    f_max: float | None = bounded(None, 0.0, low_open=True)  # None = sample_rate / 2
    log_offset: float = bounded(1e-6, 0.0, low_open=True)
    max_seconds: float = bounded(MAX_SECONDS, 0.0, MAX_CLIP_SECONDS, low_open=True)
    padding: str = "fixed"
    normalisation: str = "fold"

    def __post_init__(self):
        # Also normalises number types so that equal configs have equal dicts (and cache
        # keys): FeatureConfig(max_seconds=4) and FeatureConfig(max_seconds=4.0) are the same.
        check_fields(self)
        padder = self.padder  # an unknown mode raises here
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, "
                             f"got {self.normalisation!r}")
        if self.normalisation != "fold" and not padder.gives_lengths:
            raise ValueError(f"normalisation {self.normalisation!r} needs padding 'batch' "
                             "(padded frames must be masked, not standardised)")
        if not self.win_length <= self.n_fft:
            raise ValueError(f"need win_length <= n_fft, got win_length={self.win_length}, "
                             f"n_fft={self.n_fft}")
        if not self.hop_length <= self.n_fft:
            raise ValueError(f"need hop_length <= n_fft, got hop_length={self.hop_length}, "
                             f"n_fft={self.n_fft}")
        if self.n_mels > self.n_fft // 2 + 1:
            raise ValueError(f"n_mels={self.n_mels} exceeds the {self.n_fft // 2 + 1} "
                             f"frequency bins of n_fft={self.n_fft}")
        f_max = self.sample_rate / 2 if self.f_max is None else self.f_max
        if not 0 <= self.f_min < f_max <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got f_min="
                             f"{self.f_min}, f_max={f_max}, sample_rate={self.sample_rate}")
        if self.max_samples < self.min_samples:
            raise ValueError(f"max_seconds={self.max_seconds} is shorter than one analysis "
                             f"window ({self.min_samples} samples)")

    @property
    def padder(self) -> Padding:
        """How this front-end's clips are padded into a batch (checks ``padding``)."""
        return Padding(self.padding)

    @property
    def min_samples(self) -> int:
        """The shortest input the model may classify: one analysis window (``win_length``,
        25 ms at 16 kHz). Shorter input (a click, an empty file) holds no speech to judge,
        and every inference path (the exported model's wrapper included) refuses it."""
        return self.win_length

    @property
    def max_samples(self) -> int:
        return int(round(self.max_seconds * self.sample_rate))

    @property
    def max_frames(self) -> int:
        return self.num_frames(self.max_samples)

    def num_frames(self, samples: int) -> int:
        """Frames produced for a clip of ``samples`` samples (centred framing)."""
        return 1 + int(samples) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureConfig":
        if not isinstance(data, dict):
            raise ValueError(f"a feature config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown feature config keys: {sorted(unknown)}")
        return cls(**data)


def _capturing() -> bool:
    """Whether the module is being traced, exported or compiled (then: one graph, no loop)."""
    return (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
            or torch.compiler.is_compiling())


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (linear below 1 kHz, logarithmic above), as librosa's default."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    mel = hz / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    above = hz >= min_log_hz
    mel[above] = min_log_mel + np.log(hz[above] / min_log_hz) / logstep
    return mel


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3
    hz = f_sp * mel
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    above = mel >= min_log_mel
    hz[above] = min_log_hz * np.exp(logstep * (mel[above] - min_log_mel))
    return hz


def mel_filterbank(config: FeatureConfig) -> np.ndarray:
    """Slaney-normalised triangular filters, shape (n_mels, n_fft // 2 + 1)."""
    f_max = config.f_max if config.f_max is not None else config.sample_rate / 2
    fft_freqs = np.fft.rfftfreq(config.n_fft, 1.0 / config.sample_rate)
    mel_pts = np.linspace(hz_to_mel(np.array([config.f_min]))[0], hz_to_mel(np.array([f_max]))[0],
                          config.n_mels + 2)
    hz_pts = mel_to_hz(mel_pts)
    widths = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]
    return weights.astype(np.float32)


class LogMel(nn.Module):
    """Batched log-mel spectrogram.

    Args:
        config: the front-end numbers.
        stft: ``"fft"`` (torch.stft) or ``"conv"`` (DFT as a matrix product, for export).

    Shapes:
        waveforms: (B, samples) float at ``config.sample_rate``.
        lengths: optional (B,) valid samples per row.
        returns: features (B, n_mels, frames) and frame lengths (B,) int64,
        where ``frames = 1 + samples // hop``.

    Example:
        >>> feats, n = LogMel()(torch.zeros(2, 16000))
        >>> tuple(feats.shape), n.tolist()
        ((2, 40, 101), [101, 101])
    """

    def __init__(self, config: FeatureConfig | None = None, stft: str = "fft"):
        super().__init__()
        if stft not in ("fft", "conv"):
            raise ValueError(f"stft must be 'fft' or 'conv', got {stft!r}")
        self.config = config or FeatureConfig()
        self.stft = stft
        c = self.config
        self.register_buffer("window", torch.hamming_window(c.win_length, periodic=True),
                             persistent=False)
        self.register_buffer("mel_basis", torch.from_numpy(mel_filterbank(c)), persistent=False)
        if stft == "conv":
            self.register_buffer("dft_basis", self._dft_basis(), persistent=False)

    def _dft_basis(self) -> torch.Tensor:
        """(win_length, 2 * (n_fft // 2 + 1)): windowed cos and -sin kernels, one per column,
        over the window's samples only (the FFT's zero padding adds nothing to the sums)."""
        c = self.config
        offset = (c.n_fft - c.win_length) // 2
        n = offset + np.arange(c.win_length)[:, None]  # sample index within the n_fft frame
        k = np.arange(c.n_fft // 2 + 1)[None, :]
        angle = 2 * np.pi * k * n / c.n_fft
        window = self.window.double().numpy()[:, None]
        basis = np.concatenate([np.cos(angle), -np.sin(angle)], axis=1) * window
        return torch.from_numpy(np.ascontiguousarray(basis, dtype=np.float32))

    def log_mel(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(B, samples) float -> (B, n_mels, frames) log-mels, all rows at once."""
        power = self.power_spectrum(waveforms)  # (B, F, frames)
        mel = torch.matmul(self.mel_basis, power)  # (B, n_mels, frames)
        return torch.log(mel + self.config.log_offset)

    def power_spectrum(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, n_fft // 2 + 1, frames) power."""
        c = self.config
        if self.stft == "fft":
            spec = torch.stft(waveforms, n_fft=c.n_fft, hop_length=c.hop_length,
                              win_length=c.win_length, window=self.window, center=True,
                              pad_mode="constant", return_complex=True)
            return spec.real.square() + spec.imag.square()
        spec = torch.matmul(self.windows(waveforms), self.dft_basis)  # (B, frames, 2F)
        real, imag = spec.chunk(2, dim=2)
        return (real.square() + imag.square()).transpose(1, 2)

    def windows(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, 1 + samples // hop, win_length): the samples under each
        centred analysis window (zeros past both ends), cut from hop-sized blocks with
        slices and one concatenation, so the DFT is one matrix product (ONNX Runtime runs
        it ~3x faster than the same DFT as a strided convolution).
        """
        c = self.config
        n_frames = 1 + waveforms.shape[1] // c.hop_length
        blocks = -(-c.win_length // c.hop_length)  # hop-sized blocks one window spans
        left = c.n_fft // 2 - (c.n_fft - c.win_length) // 2  # frame t starts at t*hop - left
        padded = nn.functional.pad(waveforms, (left, blocks * c.hop_length))
        padded = padded[:, : (n_frames + blocks - 1) * c.hop_length]
        chunks = padded.reshape(waveforms.shape[0], n_frames + blocks - 1, c.hop_length)
        windows = torch.cat([chunks[:, k: k + n_frames] for k in range(blocks)], dim=2)
        return windows[:, :, : c.win_length]

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None):
        if waveforms.dim() != 2:
            raise ValueError(f"expected (B, samples) waveforms, got shape {tuple(waveforms.shape)}")
        waveforms = waveforms.float()
        rows = max(1, CPU_CHUNK_SAMPLES // max(1, waveforms.shape[1]))
        if waveforms.device.type == "cpu" and waveforms.shape[0] > rows and not _capturing():
            feats = torch.cat([self.log_mel(part) for part in waveforms.split(rows)])
        else:
            feats = self.log_mel(waveforms)
        if lengths is None:
            lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], dtype=torch.long,
                                 device=waveforms.device)
        frame_lengths = 1 + torch.div(lengths.long(), self.config.hop_length, rounding_mode="floor")
        return feats, frame_lengths


class FeatureNormalizer(nn.Module):
    """Per-feature standardisation with statistics from the training fold only.

    Shapes: (B, n_mels, T) -> (B, n_mels, T).
    """

    def __init__(self, mean: torch.Tensor | np.ndarray, std: torch.Tensor | np.ndarray,
                 eps: float = 1e-5):
        super().__init__()
        mean = torch.as_tensor(np.asarray(mean), dtype=torch.float32)
        std = torch.as_tensor(np.asarray(std), dtype=torch.float32)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std.clamp_min(eps))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.mean[:, None]) / self.std[:, None]

    def padded_frame(self, config: FeatureConfig) -> torch.Tensor:
        """The (n_mels,) value of a padded frame: normalised digital silence (what zero-padded
        audio gives), or normalised zeros with clip or speaker normalisation (masked anyway)."""
        silence = math.log(config.log_offset) if config.normalisation == "fold" else 0.0
        return self(torch.full((len(self.mean), 1), silence))[:, 0]


def standardise_utterances(feats: torch.Tensor, frames: torch.Tensor | None = None,
                           eps: float = 1e-5) -> torch.Tensor:
    """Each clip's log-mels standardised with its own mean and std per band.

    Statistics come from the valid frames only, so padding changes nothing.

    Shapes: feats (B, n_mels, T), frames (B,) valid frames per clip (None: all T)
    -> (B, n_mels, T); padded frames come out as 0.
    """
    if frames is None:
        valid = torch.ones(feats.shape[0], 1, feats.shape[2], dtype=feats.dtype,
                           device=feats.device)
    else:
        steps = torch.arange(feats.shape[2], device=feats.device)
        valid = (steps[None, :] < frames[:, None]).to(feats.dtype)[:, None, :]  # (B, 1, T)
    count = valid.sum(dim=2, keepdim=True).clamp_min(1.0)
    mean = (feats * valid).sum(dim=2, keepdim=True) / count
    var = (((feats - mean) * valid) ** 2).sum(dim=2, keepdim=True) / count
    return (feats - mean) / var.sqrt().clamp_min(eps) * valid


def feature_stats(features: list[np.ndarray] | list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per mel band over all frames of ``features`` (each (n_mels, T)).

    Accumulates in float64 so that long corpora do not lose precision.
    """
    if not features:
        raise ValueError("cannot compute normalisation statistics from no utterances")
    n_mels = np.asarray(features[0]).shape[0]
    total = np.zeros(n_mels)
    total_sq = np.zeros(n_mels)
    count = 0
    for feat in features:
        f = np.asarray(feat, dtype=np.float64)
        total += f.sum(axis=1)
        total_sq += np.square(f).sum(axis=1)
        count += f.shape[1]
    mean = total / count
    var = np.maximum(total_sq / count - np.square(mean), 0.0)
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)
