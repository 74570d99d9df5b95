"""Emotion over time: predictions on sliding windows of a long recording.

The model sees at most ``max_seconds`` (4 s) at once, so a long recording is cut
into windows of ``segment`` seconds every ``hop`` seconds (windows overlap when
``hop < segment``), each predicted like a clip of its own. The windows make a timeline
(:mod:`sertk.infer.timeline`); the whole-file prediction is its dominant label with the
time-weighted mean probabilities of its speech segments (:func:`summarized`).

Window policy:

- Windows start at 0, ``hop``, ``2 * hop``, ... and are ``segment`` long.
- After the last full window, at most one *partial* window follows, from the next hop
  position to the end of the file, predicted on its real samples (padded the model's
  usual way). It is dropped if shorter than ``min_last`` seconds (default 0.5 s, or
  ``segment`` if shorter) or than one analysis window (25 ms,
  ``FeatureConfig.min_samples``), unless it is the only window: a file shorter than
  ``min_last`` still gets one prediction, and a file shorter than one analysis window is
  refused (``too short: N samples < M``).
- With voice activity detection, a window with too little speech is ``no-speech``
  without the model; without it, silence is predicted like anything else.
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

A recording in memory (an array in a layout of :mod:`sertk.infer.layout`, with its
``sample_rate``) is mixed to mono and resampled once (one copy at 16 kHz), then cut into
the blocks a file gives, so both share one windowing code; its result is named
``<array>`` (or ``name=``).
"""
from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from tqdm.auto import tqdm

from sertk.audio import AudioError, checked_info, prepare_waveform
from sertk.features import FeatureConfig
from sertk.infer.layout import samples_first
from sertk.infer.results import ModelOutputError, Prediction
from sertk.infer.stream import BLOCK_SECONDS, stream_audio
from sertk.infer.timeline import (Segment, Summary, TimelineOptions, Window, build_timeline,
                                  summarize)
from sertk.vad import NO_SPEECH, VADOptions, detect_speech, speech_fraction

if TYPE_CHECKING:  # pragma: no cover
    from sertk.infer.predictor import Predictor


DEFAULT_MIN_LAST = 0.5  # seconds
ARRAY_NAME = "<array>"  # the path of a result for an in-memory recording
DEFAULT_MIN_GAP = 0.3  # seconds: shorter pauses do not split a speech segment
DEFAULT_SPEECH_SEGMENT = 4.0  # seconds: the longest piece of a speech region in "speech" mode
WINDOW_MODES = ("sliding", "speech")


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
    """Window settings, in seconds.

    ``mode="sliding"``: windows of ``segment`` every ``hop`` (``hop=None`` means
    ``hop = segment``; ``min_last=None`` means ``min(DEFAULT_MIN_LAST, segment)``).
    ``mode="speech"``: one window per speech region of the voice activity detector,
    regions closer than ``min_gap`` merged and longer ones split into equal pieces of
    at most ``segment`` (``hop`` and ``min_last`` unused). ``timeline`` smooths the
    merged timeline (:class:`~sertk.infer.timeline.TimelineOptions`).
    """

    segment: float
    hop: float | None = None
    min_last: float | None = None
    batch_size: int = 32
    mode: str = "sliding"
    min_gap: float = DEFAULT_MIN_GAP
    timeline: TimelineOptions = TimelineOptions()

    def __post_init__(self):
        if self.mode not in WINDOW_MODES:
            raise WindowOptionError("mode", f"must be one of {', '.join(WINDOW_MODES)}, "
                                            f"got {self.mode!r}")
        if not (isinstance(self.min_gap, (int, float)) and math.isfinite(self.min_gap)
                and self.min_gap >= 0):
            raise WindowOptionError("min_gap", f"must be a finite number of seconds >= 0, "
                                               f"got {self.min_gap!r}")
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
        """The options in samples at ``config.sample_rate``, checked against the model (see
        the module docstring): else :class:`WindowOptionError`."""
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


def window_options(segment: float | None = None, hop: float | None = None,
                   min_last: float | None = None, *, vad: bool = False, no_vad: bool = False,
                   min_gap: float = DEFAULT_MIN_GAP, smooth: int = 1, min_duration: float = 0.0,
                   batch_size: int = 32) -> SegmentOptions | None:
    """The window options of ``sertk predict`` and ``sertk serve`` (their flags' names), or
    None for utterance mode; one home for which combinations are valid. ``ValueError`` names
    the flags (``--hop needs --segment``, ``--vad`` with ``--no-vad``, ``--hop``/``--min-last``
    with ``--vad``), or a bad smoothing option."""
    if vad and no_vad:
        raise ValueError("--vad segments by speech and --no-vad turns detection off: "
                         "choose one")
    if segment is None and not vad:
        for name, value in (("hop", hop), ("min-last", min_last)):
            if value is not None:
                raise ValueError(f"--{name} needs --segment")
        return None
    if vad and (hop is not None or min_last is not None):
        raise ValueError("--hop and --min-last are for sliding windows, not --vad")
    timeline = TimelineOptions(smooth, min_duration)
    return SegmentOptions(DEFAULT_SPEECH_SEGMENT if segment is None else segment, hop,
                          min_last=min_last, batch_size=batch_size,
                          mode="speech" if vad else "sliding", min_gap=min_gap,
                          timeline=timeline)


@dataclass(frozen=True)
class WindowPrediction:
    """The prediction for the window ``[start, end)`` seconds of a recording."""

    start: float
    end: float
    prediction: Prediction


@dataclass(frozen=True)
class LongformResult:
    """Windows of one file, its timeline, and the whole-file prediction.

    ``segments``: the merged timeline (:func:`sertk.infer.timeline.build_timeline`);
    ``summary``: each label's share of the time and the dominant label; ``prediction``:
    that dominant label with the time-weighted mean probabilities of the speech
    segments (``no-speech`` when nobody speaks); ``regions``: the detector's speech
    regions in seconds (None without voice activity detection). On failure ``error``
    names the reason; windows predicted before it are kept.
    """

    path: str
    windows: tuple[WindowPrediction, ...] = ()
    prediction: Prediction | None = None
    duration: float | None = None
    error: str | None = None
    segments: tuple[Segment, ...] = ()
    summary: Summary | None = None
    regions: tuple[tuple[float, float], ...] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def timeline_windows(self, labels: Sequence[str]) -> list[Window]:
        """The windows as :class:`~sertk.infer.timeline.Window` (probabilities in ``labels``
        order; None for ``no-speech``)."""
        return [Window(w.start, w.end, w.prediction.label,
                       np.array([w.prediction.probabilities[k] for k in labels])
                       if w.prediction.is_speech else None) for w in self.windows]


def cut_windows(blocks: Iterable[np.ndarray], segment: int, hop: int,
                min_last: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Cut consecutive (n,) blocks into (start sample, (samples,) window) pairs, holding at
    most one window plus a block. ``segment``, ``hop`` (both at least 1) and ``min_last`` are
    in samples; windows are ``segment`` long except a final partial one (the policy of the
    module docstring)."""
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


class Recording(NamedTuple):
    """A recording to cut into windows: its name, its length in seconds (from the
    header for a file) and a way to stream it again from the start."""

    name: str
    duration: float
    blocks: Callable[[], Iterator[np.ndarray]]  # (n,) float32 blocks at the model's rate


def open_recording(audio: str | Path | np.ndarray, rate: int, sample_rate: int | None = None,
                   name: str | None = None) -> Recording:
    """A file (streamed) or an in-memory array (prepared once, then cut into blocks of
    ``BLOCK_SECONDS``) as a :class:`Recording` at ``rate`` Hz.

    Raises:
        AudioError: the file's header cannot be read, or the array is not usable audio
            (a bad layout, no samples, NaN/Inf), naming it.
        ValueError: an array without ``sample_rate``.
    """
    if isinstance(audio, (str, Path)):
        return Recording(name or str(audio), checked_info(audio).duration,
                         lambda: stream_audio(audio, rate))
    if sample_rate is None:
        raise ValueError("sample_rate is required when audio is an array")
    name = name or ARRAY_NAME
    wave = prepare_waveform(samples_first(audio, name), sample_rate, rate, source=name)
    block = max(1, int(BLOCK_SECONDS * rate))
    return Recording(name, wave.size / rate,
                     lambda: (wave[i:i + block] for i in range(0, wave.size, block)))


def iter_windows(predictor: Predictor, path: str | Path | np.ndarray, options: SegmentOptions,
                 *, sample_rate: int | None = None) -> Iterator[WindowPrediction]:
    """Stream ``path`` (or an in-memory array at ``sample_rate``) and yield a
    :class:`WindowPrediction` per window, in time order.

    Raises:
        WindowOptionError: bad options for this model (before anything is read).
        AudioError: the file cannot be read or is shorter than one analysis window
            (possibly after some windows were yielded).
        ModelOutputError: a window's probabilities are not finite.
    """
    window = options.samples(predictor.feature_config)
    if options.mode != "sliding" or predictor.vad is not None:
        raise ValueError("iter_windows streams sliding windows without voice activity "
                         "detection; use predict_long for the rest")
    recording = open_recording(path, predictor.sample_rate, sample_rate)
    cut = cut_windows(recording.blocks(), window.segment, window.hop, window.min_last)
    return _predict_windows(predictor, cut, options.batch_size, recording.name)


def predict_long(predictor: Predictor, path: str | Path | np.ndarray, options: SegmentOptions,
                 *, sample_rate: int | None = None, name: str | None = None,
                 progress: bool = False) -> LongformResult:
    """All windows of ``path`` and the whole-file prediction; never raises for a bad file.

    ``path`` may also be an in-memory recording: an array (:mod:`sertk.infer.layout`)
    with its ``sample_rate``; the result is named ``name`` (default ``<array>``).
    ``progress`` shows a bar over the recording's seconds on stderr (when it is a terminal).

    Raises:
        WindowOptionError: only for bad options (see :meth:`SegmentOptions.samples`).
        ValueError: an array without ``sample_rate``.
    """
    window = options.samples(predictor.feature_config)
    is_file = isinstance(path, (str, Path))
    if not is_file and sample_rate is None:
        raise ValueError("sample_rate is required when audio is an array")
    label = name or (str(path) if is_file else ARRAY_NAME)
    total = 0  # samples streamed so far

    def counted(blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        nonlocal total
        for block in blocks:
            total += block.size
            yield block

    windows: list[WindowPrediction] = []
    regions = None
    bar = tqdm(desc=Path(label).name, unit="s", file=sys.stderr,
               disable=None if progress else True,
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]")
    try:
        recording = open_recording(path, predictor.sample_rate, sample_rate, label)
        bar.total = recording.duration
        vad = predictor.vad or (VADOptions() if options.mode == "speech" else None)
        if vad is not None:
            regions = detect_speech(recording.blocks(), predictor.sample_rate, vad)
        blocks = counted(recording.blocks())
        cut = (cut_windows(blocks, window.segment, window.hop, window.min_last)
               if options.mode == "sliding" else
               cut_spans(blocks, speech_spans(regions, options, predictor.feature_config)))
        min_fraction = vad.min_speech_fraction if vad is not None else 0.0
        for prediction in _predict_windows(predictor, cut, options.batch_size, label,
                                           regions if options.mode == "sliding" else None,
                                           min_fraction):
            windows.append(prediction)
            bar.update(max(0.0, prediction.end - bar.n))
    except AudioError as err:
        return LongformResult(label, tuple(windows), error=err.reason)
    except ModelOutputError as err:
        return LongformResult(label, tuple(windows), error=str(err))
    except Exception as err:  # a model failure ends this file only
        return LongformResult(label, tuple(windows),
                              error=f"model failed ({type(err).__name__}: {err})")
    finally:
        bar.close()
    duration = total / predictor.sample_rate
    if not windows and options.mode == "sliding":
        return LongformResult(label, error="no audio samples after resampling", duration=0.0)
    return summarized(LongformResult(label, tuple(windows), duration=duration,
                                     regions=None if regions is None else tuple(regions)),
                      predictor.labels, options.timeline)


def summarized(result: LongformResult, labels: Sequence[str],
               options: TimelineOptions = TimelineOptions()) -> LongformResult:
    """``result`` with its timeline, summary and whole-file prediction filled in."""
    segments = build_timeline(result.timeline_windows(labels), result.duration or 0.0,
                              result.regions, options)
    summary = summarize(segments)
    whole = _whole_file(segments, summary, labels)
    if whole.is_speech:
        whole = replace(whole, dimensions=_mean_ratings(result.windows))
    return replace(result, segments=tuple(segments), summary=summary, prediction=whole)


def _mean_ratings(windows: Sequence[WindowPrediction]) -> dict[str, float]:
    """The duration-weighted mean ratings of the speech windows ({} without dimensions)."""
    rated = [w for w in windows if w.prediction.is_speech and w.prediction.dimensions]
    if not rated:
        return {}
    weights = np.array([w.end - w.start for w in rated])
    names = list(rated[0].prediction.dimensions)
    values = np.array([[w.prediction.dimensions[k] for k in names] for w in rated])
    return {k: float(v) for k, v in zip(names, weights @ values / weights.sum())}


def _whole_file(segments: Sequence[Segment], summary: Summary,
                labels: Sequence[str]) -> Prediction:
    speech = [s for s in segments if s.label != NO_SPEECH and s.probabilities is not None]
    if summary.dominant == NO_SPEECH or not speech:
        return Prediction.no_speech()
    weights = np.array([s.duration for s in speech])
    mean = (np.stack([s.probabilities for s in speech]) * weights[:, None]).sum(0) / weights.sum()
    return Prediction(summary.dominant, {k: float(p) for k, p in zip(labels, mean)})


def speech_spans(regions: Sequence[tuple[float, float]], options: SegmentOptions,
                 config: FeatureConfig) -> list[tuple[int, int]]:
    """Speech regions -> ``[(start, end), ...]`` sample spans to predict, in order.

    Regions closer than ``options.min_gap`` merge; a region longer than
    ``options.segment`` is split into equal pieces no longer than it; pieces shorter
    than one analysis window are dropped.
    """
    rate = config.sample_rate
    merged: list[list[float]] = []
    for start, end in regions:
        if merged and start - merged[-1][1] < options.min_gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    spans = []
    limit = round(options.segment * rate)
    for start, end in merged:
        a, b = round(start * rate), round(end * rate)
        pieces = max(1, math.ceil((b - a) / limit))
        edges = np.linspace(a, b, pieces + 1).round().astype(int)
        spans += [(int(x), int(y)) for x, y in zip(edges[:-1], edges[1:])
                  if y - x >= config.min_samples]
    return spans


def cut_spans(blocks: Iterable[np.ndarray],
              spans: Sequence[tuple[int, int]]) -> Iterator[tuple[int, np.ndarray]]:
    """Cut ``[start, end)`` sample spans (in order, not overlapping) out of a stream of
    blocks; holds at most one span plus a block. Spans past the end are cut short."""
    buf = np.zeros(0, dtype=np.float32)
    buf_start = 0
    todo = list(spans)
    for block in blocks:
        if not todo:
            break
        buf = np.concatenate([buf, block])
        while todo and buf_start + buf.size >= todo[0][1]:
            start, end = todo.pop(0)
            yield start, buf[start - buf_start:end - buf_start].copy()
        drop = min(max(0, (todo[0][0] if todo else buf_start + buf.size) - buf_start), buf.size)
        buf, buf_start = buf[drop:], buf_start + drop
    for start, end in todo:  # the recording ended inside or before these spans
        piece = buf[max(0, start - buf_start):max(0, end - buf_start)]
        if piece.size:
            yield start, piece.copy()


def _to_samples(option: str, seconds: float, rate: int) -> int:
    samples = seconds * rate
    if not math.isfinite(samples):
        raise WindowOptionError(option, f"of {seconds:g} s is too large")
    return round(samples)


def _predict_windows(predictor: Predictor, windows: Iterable[tuple[int, np.ndarray]],
                     batch_size: int, path: str | Path, regions=None,
                     min_fraction: float = 0.0) -> Iterator[WindowPrediction]:
    """Predict (start sample, wave) windows in batches; with ``regions``, windows with
    less than ``min_fraction`` of speech are ``no-speech`` without the model."""
    batch: list[tuple[int, np.ndarray]] = []
    rate = predictor.sample_rate
    try:
        for start, wave in windows:
            predictor.check_length(wave, path)  # only a lone window can be this short
            if regions is not None and speech_fraction(
                    regions, start / rate, (start + wave.size) / rate) < min_fraction:
                yield from _predict(predictor, batch)
                batch = []
                yield WindowPrediction(start / rate, (start + wave.size) / rate,
                                       Prediction.no_speech())
                continue
            batch.append((start, wave))
            if len(batch) == batch_size:
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
    probs, ratings = predictor.outputs([wave for _, wave in batch])
    for n, ((start, wave), row) in enumerate(zip(batch, probs)):
        begin, end = start / rate, (start + wave.size) / rate
        try:  # uncertain below min_confidence; with the window's ratings for dimensions
            prediction = predictor.prediction(row, None if ratings is None else ratings[n])
        except ModelOutputError as err:
            raise ModelOutputError(f"{err} (window {begin:.2f}-{end:.2f} s)") from None
        yield WindowPrediction(begin, end, prediction)
