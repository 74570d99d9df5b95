"""Reading long recordings without holding them.

:func:`stream_audio` reads a file in fixed-size blocks that are mixed to mono and
resampled with soxr's streaming resampler, so memory stays flat however long the file is.
(The first ``max_seconds`` of a file, all that utterance-level prediction and training
look at, come from :func:`sertk.audio.read_head`.) Errors are
:class:`sertk.audio.AudioError`, naming the file and the reason.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soxr

from sertk.audio import SAMPLE_RATE, AudioError, checked_info, mono_blocks

BLOCK_SECONDS = 10.0  # source audio decoded per read when streaming


def stream_audio(path: str | Path, sample_rate: int = SAMPLE_RATE, *,
                 block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Yield ``path`` as consecutive (samples,) mono float32 blocks at ``sample_rate``;
    concatenated they are the whole recording.

    Each source block (``block_seconds`` long) is mixed to mono and pushed through a
    streaming soxr resampler (the last block flushes it); blocks may differ in length.
    At most two source blocks are held in memory.

    Raises:
        AudioError: as :func:`read_head`, or a block that cannot be decoded or holds
            NaN/Inf (the message gives the time) or implausibly large samples; a
            truncated file is reported after its last block.
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
