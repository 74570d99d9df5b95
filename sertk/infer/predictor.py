"""Utterance-level prediction with a trained checkpoint.

A :class:`Predictor` rebuilds the training front-end from the checkpoint alone
(its :class:`~sertk.features.FeatureConfig` and normalisation statistics) and
turns audio into emotion probabilities:

1. decode to 16 kHz mono, only the first ``max_seconds``;
2. log-mel, normalise and pad as in training (:class:`~sertk.infer.frontend.WaveformFrontend`);
3. model, logits divided by the checkpoint's calibration temperature
   (:mod:`sertk.train.calibration`; 1.0 for uncalibrated checkpoints), softmax;
4. abstention: with ``min_confidence`` P > 0, a prediction whose top probability is below
   P is labelled ``uncertain`` (its probabilities kept).

The predictor holds no mutable state while predicting (every call runs under its
own ``torch.inference_mode``), so one instance may serve several threads.

Example:
    >>> predictor = load_model("runs/emodb/fold-00/checkpoint")  # doctest: +SKIP
    >>> predictor.predict(np.zeros(16000, np.float32), 16000).label  # doctest: +SKIP
    'no-speech'
    >>> predictor.predict(clip, 16000, top_k=2)  # doctest: +SKIP
    [{'label': 'anger', 'score': 0.91}, {'label': 'happiness', 'score': 0.06}]
"""
from __future__ import annotations

import numbers
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sertk.audio import MAX_FILE_SECONDS, AudioError, prepare_waveform, read_head
from sertk.devices import resolve_device
from sertk.features import FeatureConfig
from sertk.infer.bundled import resolve_model
from sertk.infer.frontend import frontend_for
from sertk.infer.layout import samples_first
from sertk.infer.results import (NON_FINITE_OUTPUT, UNCERTAIN, FileResult,  # noqa: F401
                                 ModelOutputError, Prediction, check_top_k)  # (the API's names)
from sertk.quantize import (autocast, check_bf16_device, check_int8_device,
                            quantize_torch)
from sertk.vad import VADOptions, has_enough_speech

@dataclass(frozen=True)
class PredictOptions:
    """How :meth:`Predictor.predict_files` reads and batches files.

    ``max_file_seconds``: a file whose header claims more is refused (its first
    seconds would say little about it; use segment prediction instead).
    """

    batch_size: int = 32
    max_file_seconds: float | None = MAX_FILE_SECONDS

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


def check_min_confidence(value) -> float:
    """``value`` as a float if it is a number in [0, 1], else ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"min_confidence must be a probability in [0, 1], got {value!r}")
    return float(value)


def rates_per_clip(sample_rate, count: int) -> list:
    """``sample_rate`` (one rate for all ``count`` clips, or a sequence of ``count`` rates)
    as one rate per clip; ``ValueError`` for a sequence of another length."""
    if isinstance(sample_rate, (str, bytes)) or np.ndim(sample_rate) == 0:
        return [sample_rate] * count
    rates = list(sample_rate)
    if len(rates) != count:
        raise ValueError(f"sample_rate gives {len(rates)} rates for {count} waveforms "
                         f"(one rate for all, or one per waveform)")
    return rates


class Predictor:
    """A checkpoint's model and front-end, ready to predict on ``device``.

    Args:
        checkpoint: a :class:`sertk.models.Checkpoint` (see :func:`load_model`).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; None picks CUDA when available
            (:func:`sertk.devices.resolve_device`; DeviceError if this machine lacks it).
        vad: when set, every prediction path first asks the voice activity detector
            (:mod:`sertk.vad`) and answers ``no-speech`` for a clip or window with less
            than ``vad.min_speech_fraction`` of speech, without running the model. None
            (this class's default) predicts every input; :func:`load_model` turns it on.
        int8: run the LSTM and Linear layers with int8 weights (dynamic quantization,
            :mod:`sertk.quantize`): faster on CPU, probabilities within about 1e-2 of the
            float model's; CPU only (:class:`sertk.quantize.Int8Error` otherwise). With
            int8 a clip's probabilities also depend slightly (~1e-3) on the other clips of
            its batch (activation scales are per batch).
        bf16: run the network (not the front-end) in bfloat16 (``torch.autocast``,
            :mod:`sertk.quantize`): faster where the CPU has native bfloat16 instructions
            (AVX-512 BF16, AMX) or on a CUDA GPU, probabilities within about 1e-2 of the
            float model's; :class:`sertk.quantize.Bf16Error` where bfloat16 would be
            emulated. One reduced precision at a time: not with ``int8``.

    Attributes:
        temperature: the checkpoint's calibration temperature (logits are divided by it).
        min_confidence: 0.0 (default) or a probability P: predictions whose top probability
            is below P are labelled ``uncertain`` (:data:`UNCERTAIN`), probabilities kept.
    """

    def __init__(self, checkpoint, device: str | torch.device | None = None,
                 vad: VADOptions | None = None, int8: bool = False, bf16: bool = False):
        self.device = resolve_device(device)  # DeviceError (a ValueError) if unusable here
        self.int8, self.bf16 = bool(int8), bool(bf16)
        if self.int8 and self.bf16:
            raise ValueError("int8 and bf16 are two reduced precisions: choose one")
        if self.int8:
            check_int8_device(self.device)
        if self.bf16:
            check_bf16_device(self.device)
        self.vad = vad
        self.temperature = float(getattr(checkpoint, "temperature", 1.0))
        self.min_confidence = 0.0
        self.labels: tuple[str, ...] = tuple(checkpoint.labels)
        #: the dimension head's scaling (None for a categorical model) and its names
        self.scaling = getattr(checkpoint, "dimensions", None)
        self.dimensions: tuple[str, ...] = self.scaling.names if self.scaling else ()
        self.feature_config: FeatureConfig = checkpoint.feature_config
        self.model_name: str = checkpoint.model_name
        self.checkpoint = checkpoint
        self.model = checkpoint.model.eval().to(self.device)
        if self.int8:
            self.model = quantize_torch(self.model)
        self.frontend = frontend_for(checkpoint).eval().to(self.device)

    @property
    def precision(self) -> str:
        """What the network computes in: ``"int8"``, ``"bfloat16"`` or ``"float32"``."""
        return "int8" if self.int8 else "bfloat16" if self.bf16 else "float32"

    @property
    def sample_rate(self) -> int:
        return self.feature_config.sample_rate

    def features(self, waves: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The model's input for prepared audio, as in training.

        Args:
            waves: B (samples,) float32 mono arrays at ``self.sample_rate``; only the
                first ``max_seconds`` are used. This low-level call does not refuse
                audio shorter than one analysis window: every prediction path checks
                that first (:meth:`check_length`).

        Returns:
            features (B, n_mels, T) on ``self.device`` and frame lengths (B,) for
            ``padding="batch"``, or None for ``padding="fixed"`` (T = max_frames).
        """
        cfg = self.feature_config
        waves = [np.asarray(w, dtype=np.float32)[: cfg.max_samples] for w in waves]
        if not waves or any(w.ndim != 1 or w.size == 0 for w in waves):
            raise ValueError("need one or more non-empty (samples,) waveforms")
        batch = np.zeros((len(waves), max(w.size for w in waves)), dtype=np.float32)
        for row, wave in zip(batch, waves):
            row[: wave.size] = wave
        lengths = torch.tensor([w.size for w in waves], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            return self.frontend(torch.from_numpy(batch).to(self.device), lengths)

    def probabilities(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """(B, n_classes) float64 class probabilities of prepared audio (see :meth:`features`),
        in ``self.labels`` order."""
        return self.outputs(waves)[0]

    def outputs(self, waves: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Class probabilities (B, n_classes) and, for a model with dimensions, ratings
        (B, D) float64 in ``self.dimensions`` order on the training corpus's scale (None
        for a categorical model), from one pass over prepared audio."""
        if not len(waves):
            return (np.zeros((0, len(self.labels))),
                    np.zeros((0, len(self.dimensions))) if self.dimensions else None)
        ratings = None
        with torch.inference_mode():
            feats, frames = self.features(waves)
            with autocast(self.device, self.bf16):
                logits, scaled = (self.model.forward_outputs(feats, frames) if self.dimensions
                                  else (self.model(feats, frames), None))
            if self.dimensions:
                ratings = self.scaling.unscale(scaled.float().cpu().numpy())
            logits = logits.float()
            if self.temperature != 1.0:  # calibrated checkpoint
                logits = logits / self.temperature
            probs = torch.softmax(logits, dim=-1)
        return probs.cpu().numpy().astype(np.float64), ratings

    def check_length(self, wave: np.ndarray, source: str | Path | None = None) -> np.ndarray:
        """The (samples,) ``wave`` at ``self.sample_rate``, checked to hold one analysis window
        (``feature_config.min_samples``): else ``AudioError`` ``too short: N samples < M``,
        naming ``source``."""
        cfg = self.feature_config
        if wave.shape[0] < cfg.min_samples:
            raise AudioError(source, f"too short: {wave.shape[0]} samples < {cfg.min_samples} "
                                     f"(one {1000 * cfg.min_samples / cfg.sample_rate:g} ms "
                                     f"analysis window at {cfg.sample_rate} Hz)")
        return wave

    def prepare(self, waveform: np.ndarray, sample_rate: int,
                source: str | Path | None = None) -> np.ndarray:
        """An in-memory clip (a layout of :mod:`sertk.infer.layout`, float or integer PCM, at
        ``sample_rate`` Hz) as the model's (samples,) float32 mono at ``self.sample_rate``;
        ``AudioError`` for an ambiguous layout, no samples, NaN/Inf, or too short audio."""
        wave = prepare_waveform(samples_first(waveform, source), sample_rate, self.sample_rate,
                                source=source)
        return self.check_length(wave, source)

    def predict(self, waveform: np.ndarray, sample_rate: int, *, top_k: int | None = None):
        """Predict one clip.

        Args:
            waveform: (samples,) mono, or (samples, channels) / (channels, samples) with
                at most 8 channels (see :mod:`sertk.infer.layout`), float or integer PCM.
            sample_rate: its rate in Hz (resampled to 16 kHz, channels averaged).
            top_k: None returns a :class:`Prediction`; an integer returns
                :meth:`Prediction.top` ``(top_k)`` instead, ``[{"label", "score"}, ...]``
                like the Hugging Face audio-classification pipeline.

        Raises:
            AudioError: empty, too short, NaN/Inf, an ambiguous 2-D array, or otherwise
                unusable audio.
            ModelOutputError: the model's output is not finite.
            ValueError: ``top_k`` is not a positive integer.
        """
        return self.predict_batch([waveform], sample_rate, top_k=top_k)[0]

    def predict_batch(self, waveforms: Sequence[np.ndarray], sample_rate,
                      *, top_k: int | None = None) -> list:
        """Predict several clips (each as in :meth:`predict`) in one forward pass.

        ``sample_rate``: one rate in Hz for every clip, or a sequence with one rate per
        clip (clips at different rates are each resampled to the model's rate).
        Returns one :class:`Prediction` per clip, or one ``top_k`` list per clip.

        Raises:
            AudioError: a clip is unusable; the message names it (``waveform 2: ...``,
                counting from 0).
            ValueError: as many rates as clips are needed; a bad ``top_k``.
        """
        check_top_k(top_k)
        rates = rates_per_clip(sample_rate, len(waveforms))
        predictions = self._predict_waves([self.prepare(w, rate, _clip_name(i, len(waveforms)))
                                           for i, (w, rate) in enumerate(zip(waveforms, rates))])
        return predictions if top_k is None else [p.top(top_k) for p in predictions]

    @property
    def embedding_size(self) -> int:
        """D, the length of an embedding (the input size of the model's head)."""
        return int(self.model.head.in_features)

    def embeddings(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """(B, D) float32 embeddings (``forward_features``, the pooled vector before the head;
        D = :attr:`embedding_size`, 256 for the paper's model) of prepared audio, through the
        same front-end as prediction (see :meth:`features`)."""
        if not len(waves):
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        with torch.inference_mode():
            feats, frames = self.features(waves)
            with autocast(self.device, self.bf16):
                vectors = self.model.forward_features(feats, frames).float()
        return vectors.cpu().numpy().astype(np.float32)

    def embed(self, inputs: Sequence[np.ndarray | str | Path] | np.ndarray | str | Path,
              sample_rate=None, *, batch_size: int = 32) -> np.ndarray:
        """Embeddings of clips or files, one row each, in order.

        Args:
            inputs: paths, or arrays (layouts of :mod:`sertk.infer.layout`), or a mix;
                a single path or a single 1-D array is one clip. Files are read like
                :meth:`predict_file` (their first ``max_seconds``).
            sample_rate: for arrays: one rate, or one per input (ignored for paths).
            batch_size: clips per forward pass.

        The voice activity detector is not asked: a clip without speech still gets its
        embedding (:meth:`has_speech` tells; ``sertk embed`` writes its ``speech`` column).

        Returns:
            (N, D) float32, D = :attr:`embedding_size`. With ``padding="batch"`` a clip's
            row does not depend on the other clips of its batch.

        Raises:
            AudioError: an input cannot be used (the message names it).
            ValueError: an array without ``sample_rate``, or rates not matching inputs.
        """
        if isinstance(inputs, np.ndarray):
            if inputs.ndim != 1:
                raise ValueError(f"embed takes one (samples,) array or a list of clips; an "
                                 f"array of shape {inputs.shape} is ambiguous (clips or "
                                 f"channels?): pass a list")
            inputs = [inputs]
        elif isinstance(inputs, (str, Path)):
            inputs = [inputs]
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        rates = rates_per_clip(sample_rate, len(inputs))
        rows = [self.embeddings([self.load_clip(inputs[i], rates[i], _clip_name(i, len(inputs)))
                                 for i in range(start, min(start + batch_size, len(inputs)))])
                for start in range(0, len(inputs), batch_size)]  # one batch of audio at a time
        return np.concatenate(rows) if rows else self.embeddings([])

    def load_clip(self, item: np.ndarray | str | Path, sample_rate=None,
                  name: str | None = None) -> np.ndarray:
        """A path or an array as the model's prepared (samples,) clip (its first ``max_seconds``
        for a file), checked to hold one analysis window: else ``AudioError`` naming the path
        (or ``name`` for an array); ``ValueError`` for an array without ``sample_rate``."""
        if isinstance(item, (str, Path)):
            wave, _ = read_head(item, self.feature_config.max_seconds, self.sample_rate)
            return self.check_length(wave, item)
        if sample_rate is None:
            raise ValueError("sample_rate is required when audio is an array")
        return self.prepare(item, sample_rate, name)

    def has_speech(self, wave: np.ndarray) -> bool:
        """Whether a prepared (samples,) clip holds enough speech to be asked about
        (always True without ``vad``)."""
        return self.vad is None or has_enough_speech(wave, self.sample_rate, self.vad)

    def _predict_waves(self, waves: Sequence[np.ndarray]) -> list[Prediction]:
        """Predictions of prepared clips: ``no-speech`` without the model where the
        detector finds too little speech, the model's answer for the others."""
        speech = [i for i, wave in enumerate(waves) if self.has_speech(wave)]
        out = [Prediction.no_speech()] * len(waves)
        if speech:
            probs, ratings = self.outputs([waves[i] for i in speech])
            for n, i in enumerate(speech):
                out[i] = self.prediction(probs[n], None if ratings is None else ratings[n])
        return out

    def predict_file(self, path: str | Path) -> Prediction:
        """Predict one file: ``AudioError`` if it cannot be read or is shorter than one analysis
        window, ``ModelOutputError`` if the model's output is not finite."""
        return self._predict_waves([self.load_clip(path)])[0]

    @property
    def needs_speaker(self) -> bool:
        """Whether the model is speaker-normalised and has no speaker statistics yet."""
        return self.feature_config.normalisation == "speaker" and self.frontend.speaker is None

    def fit_speaker(self, recordings, sample_rate: int | None = None) -> None:
        """Use the log-mel statistics of one speaker's ``recordings`` (paths or arrays at
        ``sample_rate``) from now on: what a model trained with ``normalisation="speaker"``
        needs (:func:`sertk.infer.speaker.speaker_stats`, which says what it raises)."""
        from sertk.infer.speaker import fit_speaker

        fit_speaker(self, recordings, sample_rate)

    def readable_paths(self, paths: Sequence[str | Path]) -> list[str | Path]:
        """The ``paths`` this predictor can read (at least one analysis window each)."""
        usable = []
        for path in paths:
            try:
                self.load_clip(path)
            except Exception:  # the file's own row will say why
                continue
            usable.append(path)
        return usable

    def predict_files(self, paths: Iterable[str | Path], batch_size: int | None = None,
                      progress: bool = False,
                      options: PredictOptions | None = None) -> list[FileResult]:
        """Predict many files, in batches; never raises for a bad file.

        Returns:
            one :class:`FileResult` per path, in order; a file that cannot be read
            (an operating-system error included), is shorter than one analysis window,
            or makes the model fail or produce non-finite output has ``error`` set and
            no prediction.

        A model trained with speaker normalisation that has no speaker statistics yet
        (:meth:`fit_speaker`) takes them from these files: they must be one speaker's.
        """
        options = options or PredictOptions()
        batch_size = batch_size or options.batch_size
        paths = [str(p) for p in paths]
        if self.needs_speaker and (usable := self.readable_paths(paths)):
            self.fit_speaker(usable)
        results: list[FileResult | None] = [None] * len(paths)
        pending: list[tuple[int, np.ndarray, float]] = []
        for index, path in enumerate(tqdm(paths, desc="predict", unit="file", file=sys.stderr,
                                          disable=None if progress else True)):
            try:
                wave, info = read_head(path, self.feature_config.max_seconds, self.sample_rate,
                                       max_file_seconds=options.max_file_seconds)
                self.check_length(wave, path)
            except AudioError as err:
                results[index] = FileResult(path, error=err.reason)
            except Exception as err:  # an unexpected decoder failure must not end the batch
                results[index] = FileResult(path,
                                            error=f"cannot read ({type(err).__name__}: {err})")
            else:
                pending.append((index, wave, info.duration))
            if len(pending) >= batch_size:
                self._flush(pending, paths, results)
                pending = []
        self._flush(pending, paths, results)
        return results  # type: ignore[return-value]

    def predict_long(self, audio: str | Path | np.ndarray, segment: float,
                     hop: float | None = None, *, sample_rate: int | None = None,
                     progress: bool = False, **options):
        """Emotion over time of a file or an in-memory recording (an array in a layout of
        :mod:`sertk.infer.layout` with its ``sample_rate``): see
        :func:`sertk.infer.longform.predict_long`; ``options`` are further
        :class:`~sertk.infer.longform.SegmentOptions` fields."""
        from sertk.infer.longform import SegmentOptions, predict_long

        return predict_long(self, audio, SegmentOptions(segment, hop, **options),
                            sample_rate=sample_rate, progress=progress)

    def predict_frame(self, inputs, segment: float | None = None, hop: float | None = None,
                      *, progress: bool = False, **options):
        """Predictions as a pandas DataFrame indexed by (file, start, end): see
        :func:`sertk.infer.frames.predict_frame`."""
        from sertk.infer.frames import predict_frame

        return predict_frame(self, inputs, segment, hop, progress=progress, **options)

    def _flush(self, pending, paths, results) -> None:
        """Predict the decoded files of one batch, one by one if the batch fails."""
        if not pending:
            return
        if self.vad is not None:
            try:
                speech = [self.has_speech(wave) for _, wave, _ in pending]
            except Exception as err:  # the detector failed: these files' error, not the end
                for index, _, duration in pending:
                    results[index] = FileResult(paths[index], duration=duration, error=(
                        f"voice activity detection failed ({type(err).__name__}: {err})"))
                return
            for (index, _, duration), has_speech in zip(pending, speech):
                if not has_speech:
                    results[index] = FileResult(paths[index], Prediction.no_speech(),
                                                duration=duration)
            pending = [item for item, has_speech in zip(pending, speech) if has_speech]
            if not pending:
                return
        try:
            probs, ratings = self.outputs([wave for _, wave, _ in pending])
        except Exception as err:
            if len(pending) > 1:
                for item in pending:
                    self._flush([item], paths, results)
                return
            index, _, duration = pending[0]
            results[index] = FileResult(paths[index], duration=duration,
                                        error=f"model failed ({type(err).__name__}: {err})")
            return
        for n, ((index, _, duration), row) in enumerate(zip(pending, probs)):
            try:
                prediction = self.prediction(row, None if ratings is None else ratings[n])
            except ModelOutputError as err:
                results[index] = FileResult(paths[index], duration=duration, error=str(err))
            else:
                results[index] = FileResult(paths[index], prediction, duration=duration)

    def prediction(self, probs: np.ndarray, ratings: np.ndarray | None = None) -> Prediction:
        """The prediction of one (n_classes,) probability row: its top label, or ``uncertain``
        below :attr:`min_confidence`; with the (D,) ``ratings`` of a model with dimensions."""
        return Prediction.from_probabilities(self.labels, probs, self.dimensions,
                                             ratings).abstaining(self.min_confidence)

    def __repr__(self) -> str:
        dims = f", dimensions={list(self.dimensions)}" if self.dimensions else ""
        return (f"Predictor(model={self.model_name!r}, labels={list(self.labels)}{dims}, "
                f"device={str(self.device)!r}{', int8=True' if self.int8 else ''}"
                f"{', bf16=True' if self.bf16 else ''})")


def _clip_name(index: int, count: int) -> str | None:
    """How errors name clip ``index`` of an in-memory batch (nothing for a lone clip)."""
    return f"waveform {index}" if count > 1 else None


def load_model(path_or_name: str | Path | None = None,
               device: str | torch.device | None = None,
               vad: VADOptions | None | bool = True, int8: bool = False,
               bf16: bool = False) -> Predictor:
    """Load a checkpoint directory or a bundled model (None = the default, ``"emodb"``).

    ``vad``: True (default) answers ``no-speech`` for clips and windows without enough
    speech (:class:`sertk.vad.VADOptions` defaults), a :class:`VADOptions` sets the
    thresholds, False or None predicts every input. ``int8``: dynamic int8 quantization of
    the LSTM and Linear layers (CPU only); ``bf16``: the network in bfloat16 (see
    :class:`Predictor`).

    Raises:
        sertk.infer.bundled.ModelNotFoundError: nothing at that path and no bundled
            model of that name.
        sertk.models.CheckpointError: the directory is not a valid checkpoint.
        sertk.quantize.Int8Error: ``int8`` on a device other than the CPU.
        sertk.quantize.Bf16Error: ``bf16`` where bfloat16 is not native.
    """
    from sertk.models import load_checkpoint

    options = VADOptions() if vad is True else (vad or None)
    return Predictor(load_checkpoint(resolve_model(path_or_name)), device=device, vad=options,
                     int8=int8, bf16=bf16)
