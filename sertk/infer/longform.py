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
  It is dropped if shorter than ``min_last`` seconds (by default 0.5 s, or
  ``segment`` if that is shorter) or than one
  analysis window (25 ms, ``FeatureConfig.min_samples``), unless it is the only
  window: a file shorter than ``min_last`` still gets one prediction, and a file
  shorter than one analysis window is refused (``too short: N samples < M``).
- Silent windows are predicted like any other (the model's answer to silence).
- A window whose probabilities are not finite ends the file with the error
  ``model produced non-finite output`` (no label for the file).

Window options are checked before any audio is read (:meth:`SegmentOptions.samples`):
finite numbers of seconds; ``segment`` at least one analysis window and at most the
model's ``max_seconds``; ``hop`` at least one sample; ``0 <= min_last <= segment``.
A bad one raises :class:`WindowOptionError` (a ``ValueError``) naming the option.

Memory stays flat as the file grows: audio is streamed block by block
(:func:`sertk.infer.stream.stream_audio`), only the samples of windows not yet cut
are kept, and windows are predicted in batches of ``batch_size``.
:meth:`iter_windows` yields results lazily; :func:`predict_long` collects them.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from sertk.audio import AudioError
from sertk.features import FeatureConfig
from sertk.infer.predictor import ModelOutputError, Prediction, Predictor
from sertk.infer.stream import checked_info, stream_audio


DEFAULT_MIN_LAST = 0.5  # seconds


class WindowOptionError(ValueError):
    """A bad window option; ``option`` is its Python name (``"hop"``, ``"min_last"``)."""

    def __init__(self, option: str, reason: str):
        self.option = option
        self.reason = reason
        super().__init__(f"{option} {reason}")


class WindowSamples(NamedTuple):
    """Window options in samples at the model's rate (``min_last`` at least one
    analysis window)."""

    segment: int
    hop: int
    min_last: int


@dataclass(frozen=True)
class SegmentOptions:
    """Sliding-window settings, in seconds. ``hop=None`` means ``hop = segment``;
    ``min_last=None`` means ``min(DEFAULT_MIN_LAST, segment)``."""

    segment: float
    hop: float | None = None
    min_last: float | None = None
    batch_size: int = 32

    def __post_init__(self):
        for name in ("segment", "hop", "min_last"):
            value = getattr(self, name)
            if value is None and name != "segment":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise WindowOptionError(name, f"must be a number of seconds, got {value!r}")
            if not math.isfinite(value):
                raise WindowOptionError(name, f"must be a finite number of seconds, got {value}")
        if not self.segment > 0:
            raise WindowOptionError("segment", f"must be positive, got {self.segment:g} s")
        if self.hop is not None and not self.hop > 0:
            raise WindowOptionError("hop", f"must be positive, got {self.hop:g} s")
        if self.min_last is not None and not 0 <= self.min_last <= self.segment:
            raise WindowOptionError("min_last", f"must be within [0, segment = "
                                                f"{self.segment:g}] s, got {self.min_last:g} s")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, (int, np.integer)):
            raise WindowOptionError("batch_size", f"must be an integer, got {self.batch_size!r}")
        if self.batch_size < 1:
            raise WindowOptionError("batch_size", f"must be >= 1, got {self.batch_size}")

    @property
    def hop_seconds(self) -> float:
        return self.segment if self.hop is None else self.hop

    @property
    def min_last_seconds(self) -> float:
        return min(DEFAULT_MIN_LAST, self.segment) if self.min_last is None else self.min_last

    def samples(self, config: FeatureConfig) -> WindowSamples:
        """The options in samples at ``config.sample_rate``, checked against the model.

        Raises:
            WindowOptionError: ``segment`` shorter than one analysis window or longer
                than ``max_seconds``; ``hop`` shorter than one sample, or either too
                large to count in samples.
        """
        rate = config.sample_rate
        window_ms = 1000 * config.min_samples / rate
        segment = _to_samples("segment", self.segment, rate)
        if segment < config.min_samples:
            raise WindowOptionError("segment", f"of {self.segment:g} s is {segment} samples at "
                                               f"{rate} Hz, shorter than one analysis window "
                                               f"({config.min_samples} samples = {window_ms:g} ms)")
        if self.segment > config.max_seconds + 1e-9:
            raise WindowOptionError("segment", f"of {self.segment:g} s is longer than the "
                                               f"{config.max_seconds:g} s the model sees at once")
        hop = _to_samples("hop", self.hop_seconds, rate)
        if hop < 1:
            raise WindowOptionError("hop", f"of {self.hop_seconds:g} s is less than one sample "
                                           f"at {rate} Hz (at least {1 / rate:g} s)")
        min_last = max(_to_samples("min_last", self.min_last_seconds, rate), config.min_samples)
        return WindowSamples(segment, hop, min(min_last, segment))


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
        segment, hop, min_last: in samples (see the module docstring for the policy);
            ``segment`` and ``hop`` at least 1.

    Yields:
        (start sample, (samples,) window) pairs; windows are ``segment`` long except
        a final partial one.
    """
    if segment < 1 or hop < 1:  # a hop of 0 would never advance
        raise ValueError(f"segment and hop must be at least one sample, got {segment}, {hop}")
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
        WindowOptionError: bad options for this model (before anything is read).
        AudioError: the file cannot be read or is shorter than one analysis window
            (possibly after some windows were yielded).
        ModelOutputError: a window's probabilities are not finite.
    """
    window = options.samples(predictor.feature_config)
    return _predict_windows(predictor, stream_audio(path, predictor.sample_rate), options,
                            window, path)


def predict_long(predictor: Predictor, path: str | Path, options: SegmentOptions, *,
                 progress: bool = False) -> LongformResult:
    """All windows of ``path`` and the whole-file prediction; never raises for a bad file.

    ``progress`` shows a bar over the recording's seconds on stderr (when it is a terminal).

    Raises:
        WindowOptionError: only for bad options (see :meth:`SegmentOptions.samples`).
    """
    window = options.samples(predictor.feature_config)
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
        bar.total = checked_info(path).duration
        blocks = counted(stream_audio(path, predictor.sample_rate))
        for prediction in _predict_windows(predictor, blocks, options, window, path):
            windows.append(prediction)
            bar.update(max(0.0, prediction.end - bar.n))
    except AudioError as err:
        return LongformResult(str(path), tuple(windows), error=err.reason)
    except ModelOutputError as err:
        return LongformResult(str(path), tuple(windows), error=str(err))
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


def _to_samples(option: str, seconds: float, rate: int) -> int:
    samples = seconds * rate
    if not math.isfinite(samples):
        raise WindowOptionError(option, f"of {seconds:g} s is too large")
    return round(samples)


def _predict_windows(predictor: Predictor, blocks: Iterable[np.ndarray], options: SegmentOptions,
                     window: WindowSamples, path: str | Path) -> Iterator[WindowPrediction]:
    windows = cut_windows(blocks, window.segment, window.hop, window.min_last)
    batch: list[tuple[int, np.ndarray]] = []
    try:
        for item in windows:
            predictor.check_length(item[1], path)  # only a lone window can be this short
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
        begin, end = start / rate, (start + wave.size) / rate
        try:
            prediction = Prediction.from_probabilities(predictor.labels, row)
        except ModelOutputError as err:
            raise ModelOutputError(f"{err} (window {begin:.2f}-{end:.2f} s)") from None
        yield WindowPrediction(begin, end, prediction)
