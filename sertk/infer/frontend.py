"""The inference front-end: raw waveforms in, exactly what the model was trained on out.

Training (``sertk.data``) computes each clip's log-mels alone from its first
``max_seconds``, normalises them with the training fold's statistics, and then pads them
with the feature value of digital silence (normalised ``log(log_offset)``) as the
checkpoint's :class:`~sertk.padding.Padding` says: to ``max_frames`` without lengths for
the model (``"fixed"``, the paper), or to the longest clip with lengths (``"batch"``).

A model trained with ``normalisation="utterance"`` first standardises each clip's
log-mels with the clip's own statistics (valid frames only); one trained with
``"speaker"`` with the statistics of the speaker, which the caller must set
(:meth:`WaveformFrontend.set_speaker_stats`, :mod:`sertk.infer.speaker`).

:class:`WaveformFrontend` does the same to a zero-padded waveform batch in one
``nn.Module``, so the predictor (``stft="fft"``) and the exported model
(``stft="conv"``, see :mod:`sertk.export`) share one definition.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sertk.features import FeatureConfig, FeatureNormalizer, LogMel, standardise_utterances


class SpeakerStatsError(ValueError):
    """A speaker-normalised model asked to predict before it knows the speaker."""


class WaveformFrontend(nn.Module):
    """Waveform batch -> normalised, padded log-mels for the model.

    Args:
        config: the checkpoint's feature config.
        norm_mean, norm_std: (n_mels,) normalisation statistics.
        stft: ``"fft"`` or ``"conv"`` (export); both give the same numbers.
        pad_to_max: also pad features to ``max_frames`` when the model gets lengths (they
            still mark the real frames, so the result is the same). An exported graph
            then has one time length inside the model, whatever the input length.

    Shapes:
        waveforms: (B, S) float at ``config.sample_rate``, zero-padded past each clip.
        lengths: (B,) valid samples per row, or None (every row is S samples long).
        returns: features (B, n_mels, T) and what :meth:`Padding.model_lengths
        <sertk.padding.Padding.model_lengths>` gives the model: frame lengths (B,) int64
        with T = 1 + min(S, max_samples) // hop (or max_frames with ``pad_to_max``), or
        None with T = max_frames.
    """

    def __init__(self, config: FeatureConfig, norm_mean: np.ndarray, norm_std: np.ndarray,
                 stft: str = "fft", pad_to_max: bool = False):
        super().__init__()
        self.config = config
        self.pad_to_max = pad_to_max
        self.logmel = LogMel(config, stft=stft)
        self.normalizer = FeatureNormalizer(norm_mean, norm_std)
        self.register_buffer("silence", self.normalizer.padded_frame(config), persistent=False)
        self.speaker: FeatureNormalizer | None = None  # see set_speaker_stats

    def set_speaker_stats(self, mean: np.ndarray | None, std: np.ndarray | None) -> None:
        """The (n_mels,) log-mel statistics of the speaker being predicted, for a model
        trained with ``normalisation="speaker"`` (None clears them)."""
        self.speaker = None if mean is None else FeatureNormalizer(mean, std).to(
            self.normalizer.mean.device)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None):
        cfg = self.config
        waveforms = waveforms[:, : cfg.max_samples]
        if lengths is not None:
            lengths = lengths.clamp(max=cfg.max_samples)
            samples = torch.arange(waveforms.shape[1], device=waveforms.device)
            inside = samples[None, :] < lengths[:, None]
            waveforms = torch.where(inside, waveforms, torch.zeros_like(waveforms))
        feats, frames = self.logmel(waveforms, lengths)
        if cfg.normalisation == "utterance":
            feats = standardise_utterances(feats, frames)
        elif cfg.normalisation == "speaker":
            if self.speaker is None:
                raise SpeakerStatsError("this model was trained with speaker normalisation: "
                                        "give it several recordings of the speaker first "
                                        "(Predictor.fit_speaker, or pass them to predict_files)")
            feats = self.speaker(feats)
        feats = self.normalizer(feats)  # (B, n_mels, T)
        silence = self.silence[None, :, None]
        valid = torch.arange(feats.shape[2], device=feats.device)[None, :] < frames[:, None]
        feats = torch.where(valid[:, None, :], feats, silence)  # padded frames = silence
        if cfg.padder.gives_lengths and not self.pad_to_max:
            return feats, frames
        padding = silence.expand(feats.shape[0], -1, cfg.max_frames)
        feats = torch.cat([feats, padding], dim=2)[:, :, : cfg.max_frames]
        return feats, cfg.padder.model_lengths(frames)


class WaveformPassthrough(nn.Module):
    """The front-end of a model that reads waveforms itself (an SSL encoder,
    :class:`sertk.models.ssl.SSLNet`): truncate to ``max_seconds``, zero past each clip.

    Shapes: waveforms (B, S), lengths (B,) or None -> waveforms (B, min(S, max_samples)),
    or (B, max_samples) with ``pad_to_max`` (an exported graph then has one length inside
    the model), and sample lengths (B,) int64.
    """

    speaker = None  # no speaker statistics: the encoder's layers are layer-normalised

    def __init__(self, config: FeatureConfig, pad_to_max: bool = False):
        super().__init__()
        self.config = config
        self.pad_to_max = pad_to_max

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None):
        waveforms = waveforms[:, : self.config.max_samples]
        if lengths is None:
            lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], dtype=torch.long,
                                 device=waveforms.device)
        lengths = lengths.clamp(max=waveforms.shape[1]).long()
        samples = torch.arange(waveforms.shape[1], device=waveforms.device)
        inside = samples[None, :] < lengths[:, None]
        waveforms = torch.where(inside, waveforms, torch.zeros_like(waveforms))
        if self.pad_to_max:
            padding = waveforms.new_zeros(waveforms.shape[0], self.config.max_samples)
            waveforms = torch.cat([waveforms, padding], dim=1)[:, : self.config.max_samples]
        return waveforms, lengths


def frontend_for(checkpoint, stft: str = "fft", pad_to_max: bool = False) -> nn.Module:
    """The front-end a checkpoint's model was trained behind (the predictor's, and with
    ``stft="conv", pad_to_max=True`` the exported model's): log-mels, or the waveform
    itself for a model that reads waveforms (``model.takes_waveforms``)."""
    if getattr(checkpoint.model, "takes_waveforms", False):
        return WaveformPassthrough(checkpoint.feature_config, pad_to_max)
    return WaveformFrontend(checkpoint.feature_config, checkpoint.norm_mean, checkpoint.norm_std,
                            stft, pad_to_max)
