"""Reading audio for inference without decoding more than is needed.

Utterance-level prediction only ever looks at the first ``max_seconds`` of a file
(SPEC 1 truncates longer audio), so :func:`read_head` decodes just that much plus a
short margin for the resampler's filter. Long recordings are read by
:func:`stream_audio` in fixed-size blocks that are mixed to mono and resampled with
soxr's streaming resampler, so memory stays flat however long the file is.

Both raise :class:`sertk.audio.AudioError` naming the file and the reason.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from sertk.audio import (MAX_FILE_SECONDS, SAMPLE_RATE, AudioError, AudioInfo, audio_info,
                         check_length, mono_blocks, prepare_waveform)
from sertk.fileio import short_error
from sertk.infer.paths import OTHER_MEDIA_EXTENSIONS, os_reason

# Decoded beyond the needed length so that resampling the head matches resampling
# the whole file (soxr's HQ filter reaches far less than this past the cut).
HEAD_MARGIN_SECONDS = 0.25
BLOCK_SECONDS = 10.0  # source audio decoded per read when streaming


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
                               f"{max_file_seconds:.0f} s (use --segment for long recordings)")
    frames = math.ceil((seconds + HEAD_MARGIN_SECONDS) * info.sample_rate)
    try:
        with sf.SoundFile(str(path)) as f:
            data = f.read(frames, dtype="float32", always_2d=True)
    except Exception as err:  # libsndfile raises several types
        raise AudioError(path, f"cannot decode audio ({short_error(err)})") from None
    if data.shape[0] < frames:  # the whole file was read: it must be as long as it says
        check_length(info, data.shape[0])
    return prepare_waveform(data, info.sample_rate, sample_rate, source=path), info


def stream_audio(
    path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    *,
    block_seconds: float = BLOCK_SECONDS,
) -> Iterator[np.ndarray]:
    """Yield ``path`` as consecutive mono float32 blocks at ``sample_rate``.

    Each source block (``block_seconds`` long) is mixed to mono and pushed through
    a streaming soxr resampler; blocks may differ in length and the last flushes the
    resampler. At most two source blocks are held in memory.

    Yields:
        (samples,) float32 arrays; concatenated they are the whole recording.

    Raises:
        AudioError: as :func:`read_head`, or a block that cannot be decoded or holds
            NaN/Inf (the message gives the time) or implausibly large samples; a truncated file is reported
            after its last block.
    """
    info = checked_info(path)
    resampler = None
    if info.sample_rate != sample_rate:
        resampler = soxr.ResampleStream(info.sample_rate, sample_rate, 1, dtype="float32",
                                        quality="HQ")
    block_frames = max(1, int(block_seconds * info.sample_rate))
    pending = None  # one block is held back so that the last one can flush the resampler
    try:
        for mono in mono_blocks(path, info, block_frames=block_frames):
            if pending is not None:
                yield from _resampled(pending, resampler, last=False)
            pending = mono
    except AudioError:
        if pending is not None:  # the audio before a bad block is still yielded
            yield from _resampled(pending, resampler, last=True)
        raise
    yield from _resampled(pending, resampler, last=True)


def _resampled(mono: np.ndarray, resampler, *, last: bool) -> Iterator[np.ndarray]:
    out = mono if resampler is None else resampler.resample_chunk(mono, last=last)
    if out.size:
        yield np.ascontiguousarray(out, dtype=np.float32)


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
