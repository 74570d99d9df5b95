"""Emotion over time: predictions on sliding windows of a long recording.

The model sees at most ``max_seconds`` (4 s) at once, so a long recording is cut
into windows of ``segment`` seconds every ``hop`` seconds (windows overlap when
``hop < segment``), each predicted like a clip of its own. The whole-file result
is the **mean of the window probabilities** (every window counts once), and its
label is the most probable class of that mean.

Window policy:

- Windows start at 0, ``hop``, ``2 * hop``, ... and are ``segment`` long.
- After the last full window, at most one *partial* window follows, starting at the
  next hop position and ending at the end of the file (its reported ``end`` is the
  true end). It is predicted on its real samples, padded the model's usual way.
  It is dropped if shorter than ``min_last`` seconds (0.5 s by default), unless it
  is the only window (a file shorter than ``min_last`` still gets one prediction).
- Silent windows are predicted like any other (the model's answer to silence).

Memory stays flat as the file grows: audio is streamed block by block
(:func:`sertk.infer.stream.stream_audio`), only the samples of windows not yet cut
are kept, and windows are predicted in batches of ``batch_size``.
:meth:`iter_windows` yields results lazily; :func:`predict_long` collects them.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from sertk.audio import AudioError, audio_info
from sertk.infer.predictor import Prediction, Predictor
from sertk.infer.stream import stream_audio


@dataclass(frozen=True)
class SegmentOptions:
    """Sliding-window settings, in seconds. ``hop=None`` means ``hop = segment``."""

    segment: float
    hop: float | None = None
    min_last: float = 0.5
    batch_size: int = 32

    def __post_init__(self):
        if not self.segment > 0:
            raise ValueError(f"segment must be positive, got {self.segment}")
        if self.hop is not None and not self.hop > 0:
            raise ValueError(f"hop must be positive, got {self.hop}")
        if self.min_last < 0:
            raise ValueError(f"min_last must be >= 0, got {self.min_last}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def hop_seconds(self) -> float:
        return self.segment if self.hop is None else self.hop


@dataclass(frozen=True)
class WindowPrediction:
    """The prediction for the window ``[start, end)`` seconds of a recording."""

    start: float
    end: float
    prediction: Prediction


@dataclass(frozen=True)
class LongformResult:
    """Windows of one file and the whole-file prediction (mean of window probabilities).

    On failure ``error`` names the reason; windows predicted before it are kept.
    """

    path: str
    windows: tuple[WindowPrediction, ...] = ()
    prediction: Prediction | None = None
    duration: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def cut_windows(
    blocks: Iterable[np.ndarray],
    segment: int,
    hop: int,
    min_last: int = 0,
) -> Iterator[tuple[int, np.ndarray]]:
    """Cut a stream of sample blocks into windows, holding at most one window plus a block.

    Args:
        blocks: consecutive (n,) arrays.
        segment, hop, min_last: in samples (see the module docstring for the policy).

    Yields:
        (start sample, (samples,) window) pairs; windows are ``segment`` long except
        a final partial one.
    """
    buf = np.zeros(0, dtype=np.float32)
    buf_start = 0  # absolute index of buf[0]
    next_start = 0
    emitted = 0
    for block in blocks:
        buf = np.concatenate([buf, block])
        skip = min(next_start - buf_start, buf.size)  # gap when hop > segment
        buf, buf_start = buf[skip:], buf_start + skip
        while buf_start == next_start and buf.size >= segment:
            yield next_start, buf[:segment].copy()
            emitted += 1
            next_start += hop
            skip = min(hop, buf.size)
            buf, buf_start = buf[skip:], buf_start + skip
    if buf_start == next_start and buf.size and (buf.size >= min_last or not emitted):
        yield next_start, buf.copy()


def iter_windows(
    predictor: Predictor,
    path: str | Path,
    options: SegmentOptions,
) -> Iterator[WindowPrediction]:
    """Stream ``path`` and yield a :class:`WindowPrediction` per window, in time order.

    Raises:
        AudioError: the file cannot be read (possibly after some windows were yielded).
        ValueError: ``segment`` is longer than the model's ``max_seconds``.
    """
    check_segment(predictor, options)
    return _predict_windows(predictor, stream_audio(path, predictor.sample_rate), options)


def predict_long(predictor: Predictor, path: str | Path, options: SegmentOptions, *,
                 progress: bool = False) -> LongformResult:
    """All windows of ``path`` and the whole-file prediction; never raises for a bad file.

    ``progress`` shows a bar over the recording's seconds on stderr (when it is a terminal).

    Raises:
        ValueError: only for bad options (``segment`` longer than ``max_seconds``).
    """
    check_segment(predictor, options)
    total = 0  # samples streamed so far

    def counted(blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        nonlocal total
        for block in blocks:
            total += block.size
            yield block

    windows: list[WindowPrediction] = []
    bar = tqdm(desc=Path(path).name, unit="s", file=sys.stderr, disable=None if progress else True,
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]")
    try:
        bar.total = audio_info(path).duration
        blocks = counted(stream_audio(path, predictor.sample_rate))
        for window in _predict_windows(predictor, blocks, options):
            windows.append(window)
            bar.update(max(0.0, window.end - bar.n))
    except AudioError as err:
        return LongformResult(str(path), tuple(windows), error=err.reason)
    except Exception as err:  # a model failure ends this file only
        return LongformResult(str(path), tuple(windows),
                              error=f"model failed ({type(err).__name__}: {err})")
    finally:
        bar.close()
    if not windows:
        return LongformResult(str(path), error="no audio samples after resampling", duration=0.0)
    labels = predictor.labels
    mean = np.mean([[w.prediction.probabilities[k] for k in labels] for w in windows], axis=0)
    return LongformResult(str(path), tuple(windows), Prediction.from_probabilities(labels, mean),
                          duration=total / predictor.sample_rate)


def check_segment(predictor: Predictor, options: SegmentOptions) -> None:
    """Refuse windows longer than the model sees at once (they would be truncated)."""
    max_seconds = predictor.feature_config.max_seconds
    if options.segment > max_seconds + 1e-9:
        raise ValueError(f"segment of {options.segment:g} s is longer than the {max_seconds:g} s "
                         f"the model sees at once")


def _predict_windows(predictor: Predictor, blocks: Iterable[np.ndarray],
                     options: SegmentOptions) -> Iterator[WindowPrediction]:
    rate = predictor.sample_rate
    windows = cut_windows(blocks, round(options.segment * rate), round(options.hop_seconds * rate),
                          round(options.min_last * rate))
    batch: list[tuple[int, np.ndarray]] = []
    try:
        for item in windows:
            batch.append(item)
            if len(batch) == options.batch_size:
                yield from _predict(predictor, batch)
                batch = []
    except AudioError:
        yield from _predict(predictor, batch)  # the windows cut before the bad block
        raise
    yield from _predict(predictor, batch)


def _predict(predictor: Predictor,
             batch: list[tuple[int, np.ndarray]]) -> Iterator[WindowPrediction]:
    if not batch:
        return
    rate = predictor.sample_rate
    probs = predictor.probabilities([wave for _, wave in batch])
    for (start, wave), row in zip(batch, probs):
        yield WindowPrediction(start / rate, (start + wave.size) / rate,
                               Prediction.from_probabilities(predictor.labels, row))
