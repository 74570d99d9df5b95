"""Audio input: decode, mix to mono, resample to 16 kHz.

The paper's front-end (SPEC section 1) works on 16 kHz mono audio. Every file
goes through :func:`load_audio`, which decodes anything libsndfile reads
(wav, flac, ogg, ...), averages the channels and resamples with soxr. Bad input
raises :class:`AudioError`, which names the file and the reason, so batch jobs
can report it and go on with the rest. A WAV file holding fewer data bytes than
its header declares is refused as truncated (libsndfile alone would quietly read
it as a shorter clip), and samples far beyond full scale are refused because
their log-mel power would overflow float32.

Before a file is opened its path is classified (:func:`check_regular_file`): a
missing file, a broken link, a folder, a named pipe, a socket or a device, an
empty file and one the operating system will not let us read (permission
denied, name too long, ...) are each reported in those words; nothing blocks on
a pipe.

Lengths: a file is refused as truncated only where its container states an exact
length (:func:`header_length_is_exact`). An MP3 stream states one only in an
optional Xing/Info tag that libsndfile does not report, so for MP3 the header's
frame count is an estimate and the decoded length is the truth.

:func:`mono_blocks` decodes a file block by block (memory flat in the file's
length) with the same checks as :func:`load_audio`; :func:`scan_audio` uses it
to validate a whole file without holding it.
"""
from __future__ import annotations

import errno
import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from sertk.fileio import short_error

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
# Containers and codecs whose header frame count is an estimate; elsewhere fewer decoded
# frames than the header states means the file is truncated. libsndfile names the MP3
# container "MP3" (soundfile >= 0.11; "MPEG" in libsndfile's own headers), and MPEG audio
# may also sit in a WAV box as subtype MPEG_LAYER_*.
INEXACT_FORMATS = frozenset({"MP3", "MPEG"})
INEXACT_SUBTYPES = frozenset({"MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"})
# Decoded at a time by mono_blocks: 4 MiB of float32 whatever the channel count.
BLOCK_BYTES = 4 << 20


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
    format: str = ""  # libsndfile's major format: "WAV", "FLAC", "OGG", "MP3", ...
    subtype: str = ""  # its codec: "PCM_16", "VORBIS", "MPEG_LAYER_III", ...

    @property
    def duration(self) -> float:
        """Length in seconds (an estimate where :attr:`exact_length` is false)."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    @property
    def exact_length(self) -> bool:
        """Whether ``frames`` is a length the container states
        (:func:`header_length_is_exact`)."""
        return header_length_is_exact(self.format, self.subtype)


def header_length_is_exact(format: str, subtype: str = "") -> bool:
    """Whether a file of libsndfile major ``format`` and ``subtype`` states its exact length.

    False for MPEG audio (an MP3 file, or MPEG frames in a WAV box): its frame count is
    estimated from the file size unless a Xing/Info tag gives it, and libsndfile does not
    say which. Only where this is true is "fewer frames decoded than the header states"
    a truncated file.
    """
    return format.upper() not in INEXACT_FORMATS and subtype.upper() not in INEXACT_SUBTYPES


_NOT_REGULAR = [(stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")]


def check_regular_file(path: str | Path) -> int:
    """Classify ``path`` before anything opens it; return its size in bytes.

    Raises:
        AudioError: file not found, a broken symbolic link, a folder, not a regular file
            (named pipe, socket, device: never opened, so nothing blocks), an empty file,
            or one the operating system refuses to open (the reason in its words:
            "permission denied", "file name too long", ...).
    """
    try:
        info = os.stat(path)
    except OSError as err:
        raise AudioError(path, _missing_reason(path, err)) from None
    except ValueError:  # os.stat refuses a NUL in a path before asking the system
        raise AudioError(repr(str(path)), "not a valid path (it contains a NUL byte)") from None
    if stat.S_ISDIR(info.st_mode):
        raise AudioError(path, "is a directory, not an audio file")
    for is_kind, kind in _NOT_REGULAR:
        if is_kind(info.st_mode):
            raise AudioError(path, f"not a regular file (it is {kind})")
    if not stat.S_ISREG(info.st_mode):
        raise AudioError(path, "not a regular file")
    if info.st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise AudioError(path, f"cannot open ({os_reason(err)})") from None
    return info.st_size


def os_reason(err: OSError) -> str:
    """The operating system's reason for ``err`` in words, lower case: "permission denied"."""
    reason = err.strerror or (os.strerror(err.errno) if err.errno else "") or type(err).__name__
    return reason[:1].lower() + reason[1:]


def _missing_reason(path: str | Path, err: OSError) -> str:
    if err.errno == errno.ENOENT:
        if os.path.islink(path):
            return f"file not found (a broken symbolic link to {os.readlink(path)})"
        return "file not found"
    return f"cannot open ({os_reason(err)})"


def audio_info(path: str | Path) -> AudioInfo:
    """Read a file's header.

    Raises:
        AudioError: anything :func:`check_regular_file` refuses, not audio, or a WAV file
            truncated before the end of the data its header declares.
    """
    path = Path(path)
    check_regular_file(path)
    try:
        info = sf.info(str(path))
    except Exception as err:  # libsndfile raises several types
        raise _decode_error(path, "not a readable audio file", err) from None
    try:
        truncated = wav_truncation(path)
    except OSError as err:
        raise AudioError(path, f"cannot read ({os_reason(err)})") from None
    if truncated:
        raise AudioError(path, truncated)
    return AudioInfo(str(path), int(info.samplerate), int(info.channels), int(info.frames),
                     str(info.format), str(info.subtype))


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
        >>> wave.dtype, wave.ndim  # doctest: +SKIP
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
        raise _decode_error(path, "cannot decode audio", err) from None
    check_length(info, data.shape[0])
    return prepare_waveform(data, rate, sample_rate, source=path)


def check_length(info: AudioInfo, decoded: int) -> None:
    """Refuse a file that decoded to fewer than the ``info.frames`` its container states.

    Raises:
        AudioError: "truncated", where the header states an exact length
            (:attr:`AudioInfo.exact_length`) and ``decoded`` falls short of it.
    """
    if info.exact_length and decoded < info.frames:
        raise AudioError(info.path, f"truncated file: the header says {info.frames} samples "
                                    f"({info.duration:.1f} s) but the audio ends after "
                                    f"{decoded} ({decoded / info.sample_rate:.1f} s)")


def mono_blocks(path: str | Path, info: AudioInfo | None = None, *,
                block_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decode ``path`` block by block, each mixed to mono at the file's own rate.

    At most one block is held: ``block_frames`` source frames (default: as many as fit
    :data:`BLOCK_BYTES` as float32 across all channels, so memory is bounded whatever the
    header claims).

    Yields:
        (frames,) float32 arrays at ``info.sample_rate``; concatenated, the whole file.
        Every block is checked as :func:`load_audio` checks the whole file.

    Raises:
        AudioError: as :func:`audio_info`; a block that cannot be decoded or holds NaN/Inf
            (the message gives the time) or implausibly large samples; after the last block,
            no samples at all or a truncated file (:func:`check_length`).
    """
    info = info or audio_info(path)
    if info.sample_rate <= 0:
        raise AudioError(path, f"invalid sample rate {info.sample_rate}")
    if block_frames is None:
        block_frames = BLOCK_BYTES // (4 * max(1, info.channels))
    block_frames = max(1, int(block_frames))
    try:
        f = sf.SoundFile(str(path))
    except Exception as err:
        raise _decode_error(path, "cannot decode audio", err) from None
    position = 0  # source frames decoded so far
    with f:
        while True:
            try:
                data = f.read(block_frames, dtype="float32", always_2d=True)
            except Exception as err:
                raise _decode_error(path, f"cannot decode audio after "
                                          f"{position / info.sample_rate:.1f} s", err) from None
            if data.shape[0]:
                finite = np.isfinite(data).all(axis=1)
                if not finite.all():
                    bad = position + int(np.argmin(finite))
                    raise AudioError(path, f"audio contains NaN or infinite samples "
                                           f"(at {bad / info.sample_rate:.2f} s)")
                mono = data.mean(axis=1, dtype=np.float64).astype(np.float32)
                check_sample_range(mono, path)
                position += data.shape[0]
                yield mono
            if data.shape[0] < block_frames:
                break
    if position == 0:
        raise AudioError(path, "no audio samples (0-length signal)")
    check_length(info, position)


def scan_audio(path: str | Path, info: AudioInfo | None = None) -> int:
    """Decode all of ``path`` through :func:`mono_blocks` without keeping it; return the
    number of frames decoded (the file's true length at its own rate)."""
    return sum(block.shape[0] for block in mono_blocks(path, info))


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


def _decode_error(path: str | Path, what: str, err: Exception) -> AudioError:
    """``what (libsndfile's reason)``; libsndfile's "System error." is a failed open or read,
    so the file is classified again to give the real cause where there is one."""
    if "System error" in str(err) or isinstance(err, OSError):
        try:
            check_regular_file(path)
        except AudioError as real:
            return real
    return AudioError(path, f"{what} ({short_error(err)})")


# --- formats, headers and the head of a file -------------------------------------------------

# Extensions of audio that libsndfile decodes (MP3 since 1.1, Opus since 1.0.29): the
# installed library's formats and their usual other spellings. One set for corpus
# folders, prediction inputs and the service.
AUDIO_EXTENSIONS = frozenset({
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".mp2", ".mpga", ".aiff",
    ".aif", ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64", ".sph", ".nist", ".voc",
} | {f".{fmt.lower()}" for fmt in sf.available_formats() if fmt != "RAW"})
# Audio and video containers that libsndfile does not decode: listed, never skipped.
OTHER_MEDIA_EXTENSIONS = frozenset({
    ".m4a", ".m4b", ".mp4", ".m4v", ".aac", ".wma", ".wmv", ".asf", ".amr", ".awb",
    ".3gp", ".3g2", ".webm", ".mka", ".mkv", ".mov", ".avi", ".flv", ".ac3", ".eac3",
    ".dts", ".ape", ".wv", ".mpc", ".tta", ".tak", ".alac", ".ra", ".rm", ".spx",
    ".dsf", ".dff", ".mts", ".ts",
})
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS | OTHER_MEDIA_EXTENSIONS

# Decoded beyond the needed length so that resampling the head matches resampling
# the whole file (soxr's HQ filter reaches far less than this past the cut).
HEAD_MARGIN_SECONDS = 0.25


def checked_info(path: str | Path) -> AudioInfo:
    """The header of ``path``; every failure (an ``OSError`` too) as :class:`AudioError`."""
    try:
        info = audio_info(path)
    except OSError as err:  # e.g. a name too long for the filesystem, permission denied
        raise AudioError(path, f"cannot open ({os_reason(err)})") from None
    except AudioError as err:
        suffix = Path(path).suffix.lower()
        if suffix in OTHER_MEDIA_EXTENSIONS:
            raise AudioError(path, f"{err.reason}: the installed libsndfile "
                                   f"{sf.__libsndfile_version__} does not decode {suffix} files; "
                                   f"convert it first, e.g. ffmpeg -i IN{suffix} OUT.wav") from None
        raise
    if info.sample_rate <= 0:
        raise AudioError(path, f"invalid sample rate {info.sample_rate}")
    return info


def read_head(
    path: str | Path,
    seconds: float,
    sample_rate: int = SAMPLE_RATE,
    *,
    max_file_seconds: float | None = MAX_FILE_SECONDS,
) -> tuple[np.ndarray, AudioInfo]:
    """Decode about the first ``seconds`` of ``path`` as mono float32 at ``sample_rate``.

    Returns:
        (samples,) float32 array holding at least ``seconds`` of audio when the file
        has that much (a little more: the caller trims), and the file's header info.

    Raises:
        AudioError: missing, empty, non-audio, undecodable or truncated file (fewer
            samples than the header claims), no samples, NaN/Inf samples, or a header
            claiming more than ``max_file_seconds``.
    """
    info = checked_info(path)
    if max_file_seconds is not None and info.duration > max_file_seconds:
        raise AudioError(path, f"header claims {info.duration:.0f} s of audio, over the limit of "
                               f"{max_file_seconds:.0f} s (long recordings: sertk predict --segment)")
    frames = math.ceil((seconds + HEAD_MARGIN_SECONDS) * info.sample_rate)
    try:
        with sf.SoundFile(str(path)) as f:
            data = f.read(frames, dtype="float32", always_2d=True)
    except Exception as err:  # libsndfile raises several types
        raise AudioError(path, f"cannot decode audio ({short_error(err)})") from None
    if data.shape[0] < frames:  # the whole file was read: it must be as long as it says
        check_length(info, data.shape[0])
    return prepare_waveform(data, info.sample_rate, sample_rate, source=path), info
