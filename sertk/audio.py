"""Audio input: decode, mix to mono, resample to 16 kHz, pad or trim.

The paper's front-end (SPEC section 1) works on 16 kHz mono audio. Every file
goes through :func:`load_audio`, which decodes anything libsndfile reads
(wav, flac, ogg, ...), averages the channels and resamples with soxr. Bad input
raises :class:`AudioError`, which names the file and the reason, so batch jobs
can report it and go on with the rest. A WAV file holding fewer data bytes than
its header declares is refused as truncated (libsndfile alone would quietly read
it as a shorter clip), and samples far beyond full scale are refused because
their log-mel power would overflow float32.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import os

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16_000  # Hz; SPEC 1 (IEMOCAP's rate)
WIN_LENGTH = 400  # samples = 25 ms at 16 kHz (Hamming window)
HOP_LENGTH = 160  # samples = 10 ms
N_FFT = 512  # window zero-padded to the FFT size
N_MELS = 40
MAX_SECONDS = 4.0  # longer audio is truncated, shorter is zero-padded (paper)
MAX_SAMPLES = int(MAX_SECONDS * SAMPLE_RATE)

# A header may claim more than any sane recording; refuse before allocating it.
MAX_FILE_SECONDS = 6 * 3600.0
# Float audio is about [-1, 1]; 1e6 (120 dB over full scale) is no recording, and much
# larger samples overflow the float32 STFT power (NaN log-mels).
MAX_ABS_SAMPLE = 1e6
# Formats whose header frame count is an estimate (elsewhere fewer frames = truncated).
INEXACT_FORMATS = frozenset({"MPEG"})


class AudioError(ValueError):
    """A file that cannot be used as audio. ``str(err)`` names the file and the reason."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, without decoding it."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str = ""  # libsndfile's major format: "WAV", "FLAC", "OGG", "MPEG", ...

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def audio_info(path: str | Path) -> AudioInfo:
    """Read a file's header.

    Raises:
        AudioError: missing, empty, not audio, or a WAV file truncated before the end
            of the data its header declares.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file not found")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except Exception as err:  # libsndfile raises several types
        raise AudioError(path, f"not a readable audio file ({_short(err)})") from None
    truncated = wav_truncation(path)
    if truncated:
        raise AudioError(path, truncated)
    return AudioInfo(str(path), int(info.samplerate), int(info.channels), int(info.frames),
                     str(info.format))


def wav_truncation(path: str | Path) -> str | None:
    """Why a RIFF/WAVE file is truncated (data chunk shorter than declared), else None.

    Files that are not RIFF/WAVE, and streaming headers that declare a data size of
    0 or 0xFFFFFFFF (unknown), are not judged here.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk = fh.read(8)
            declared = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                present = size - pos - 8
                if declared in (0, 0xFFFFFFFF) or present >= declared:
                    return None
                return (f"truncated: the WAV header declares {declared} bytes of audio "
                        f"but only {present} are present")
            pos += 8 + declared + (declared & 1)
    return None


def load_audio(
    path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    *,
    max_seconds: float | None = MAX_FILE_SECONDS,
) -> np.ndarray:
    """Decode ``path`` as float32 mono at ``sample_rate``.

    Returns:
        (samples,) float32 array.

    Raises:
        AudioError: missing, empty, truncated or non-audio file, no samples,
            NaN/Inf or implausibly large samples, or longer than ``max_seconds``.

    Example:
        >>> wave = load_audio("clip.wav")  # doctest: +SKIP
        >>> wave.dtype, wave.ndim
        (dtype('float32'), 1)
    """
    info = audio_info(path)
    if info.sample_rate <= 0:
        raise AudioError(path, f"invalid sample rate {info.sample_rate}")
    if max_seconds is not None and info.duration > max_seconds:
        raise AudioError(
            path, f"{info.duration:.0f} s of audio is over the limit of {max_seconds:.0f} s"
        )
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:
        raise AudioError(path, f"cannot decode audio ({_short(err)})") from None
    if data.shape[0] < info.frames and info.format not in INEXACT_FORMATS:
        raise AudioError(path, f"truncated: decoded {data.shape[0]} of the {info.frames} "
                               "samples its header declares")
    return prepare_waveform(data, rate, sample_rate, source=path)


def prepare_waveform(
    data: np.ndarray,
    rate: int,
    sample_rate: int = SAMPLE_RATE,
    *,
    source: str | Path | None = None,
) -> np.ndarray:
    """Validate, mix to mono and resample an in-memory signal.

    Args:
        data: (samples,) or (samples, channels) array of any real dtype.
            Integer PCM is scaled to [-1, 1].
        rate: its sample rate in Hz.
        sample_rate: the rate to return.
        source: named in errors.

    Returns:
        (samples,) float32 array at ``sample_rate``, of ``round(samples * sample_rate /
        rate)`` samples (halves round up).

    Raises:
        AudioError: bad shape or dtype, no channels or samples, NaN/Inf, samples beyond
            ``MAX_ABS_SAMPLE``, or too short to give a single sample at ``sample_rate``.
    """
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise AudioError(source, f"expected (samples,) or (samples, channels), got shape {data.shape}")
    if rate <= 0:
        raise AudioError(source, f"invalid sample rate {rate}")
    if data.shape[1] == 0:
        raise AudioError(source, "no audio channels")
    if data.shape[0] == 0:
        raise AudioError(source, "no audio samples (0-length signal)")
    if np.issubdtype(data.dtype, np.integer):
        data = _pcm_to_float(data)
    elif not np.issubdtype(data.dtype, np.floating):
        raise AudioError(source, f"unsupported sample type {data.dtype}")
    if not np.isfinite(data).all():
        raise AudioError(source, "audio contains NaN or infinite samples")
    mono = data.mean(axis=1, dtype=np.float64)
    check_sample_range(mono, source)
    out = resample(mono.astype(np.float32), rate, sample_rate)
    if out.shape[0] == 0:
        raise AudioError(source, f"too short: {data.shape[0]} samples at {rate} Hz give no "
                                 f"sample at {sample_rate} Hz")
    return out


def check_sample_range(mono: np.ndarray, source: str | Path | None = None) -> None:
    """Raise :class:`AudioError` if a (samples,) float signal exceeds ``MAX_ABS_SAMPLE``."""
    peak = float(np.abs(mono).max()) if mono.size else 0.0
    if peak > MAX_ABS_SAMPLE:
        raise AudioError(source, f"audio samples are implausibly large (max |x| = {peak:.3g}; "
                                 f"float audio should lie in about [-1, 1])")


def _pcm_to_float(data: np.ndarray) -> np.ndarray:
    """Integer PCM -> float32 in [-1, 1): signed by 2**(bits-1), unsigned about its midpoint."""
    info = np.iinfo(data.dtype)
    scale = float(info.max) / 2 + 0.5 if info.min == 0 else float(info.max) + 1.0
    offset = scale if info.min == 0 else 0.0
    return ((data.astype(np.float64) - offset) / scale).astype(np.float32)


def resample(wave: np.ndarray, orig_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a (samples,) float32 signal with soxr (high quality)."""
    if orig_rate == target_rate:
        return np.ascontiguousarray(wave, dtype=np.float32)
    out = soxr.resample(wave.astype(np.float32, copy=False), orig_rate, target_rate, quality="HQ")
    return np.ascontiguousarray(out, dtype=np.float32)


def pad_or_trim(wave: np.ndarray, length: int = MAX_SAMPLES) -> np.ndarray:
    """Zero-pad at the end or truncate a (samples,) signal to exactly ``length`` samples."""
    if wave.shape[-1] >= length:
        return wave[..., :length]
    pad = [(0, 0)] * (wave.ndim - 1) + [(0, length - wave.shape[-1])]
    return np.pad(wave, pad)


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[-1] if text else type(err).__name__
