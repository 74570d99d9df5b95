"""A fold's data for the SSL models (``ssl-proposed``, ``ssl-linear``).

A frozen encoder runs once per corpus: its hidden states (the model's chosen layers) go into
the :class:`~sertk.data.store.FeatureStore` under ``<cache_dir>/ssl`` (default
``$SERTK_CACHE/ssl`` or ``~/.cache/sertk/features/ssl``), keyed by a fingerprint of the
encoder's config and weights, the layers, the sample rate and ``max_seconds``, and every
fold and epoch reads them lazily from disk. A model that fine-tunes encoder layers
(``finetune_layers`` > 0) reads the audio instead (:class:`WaveDataset`).

SSL layer sums are layer-normalised, so there are no fold statistics (``mean``/``std`` are
empty); the model masks padding with lengths, so the recipe must use ``padding: batch``;
feature-level augmentation (SpecAugment, speed, gain, mixup) is defined on log-mels and
refused.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from sertk.data.cache import _path_of, default_cache_root, load_clip
from sertk.data.dataset import Batch
from sertk.data.manifest import Utterance
from sertk.data.splits import Fold
from sertk.data.store import FeatureStore, StoredDataset
from sertk.features import FeatureConfig
from sertk.models.ssl import SSL_MODELS, SSLNet
from sertk.train.config import ConfigError, TrainConfig
from sertk.train.datamodule import FoldData

STORE_DIR = "ssl"


def is_ssl_model(name: str) -> bool:
    return name in SSL_MODELS


def check_ssl_recipe(config: TrainConfig) -> None:
    """Raise :class:`ConfigError` for recipe keys an SSL model cannot honour."""
    if not config.features.padder.gives_lengths:
        raise ConfigError(f"{config.model.name} masks padded frames with lengths: set padding: "
                          f"batch (got {config.features.padding!r})")
    if config.features.normalisation != "fold":
        raise ConfigError(f"{config.model.name} layer-normalises the encoder's layers: "
                          f"normalisation {config.features.normalisation!r} does not apply "
                          "(use fold)")
    flat = config.flat_dict()
    augment = [k for k in ("spec_augment", "speed_perturb", "gain_perturb_db", "mixup_alpha")
               if flat[k]]
    if augment:
        raise ConfigError(f"{config.model.name}: {', '.join(augment)} act on log-mels, not on "
                          "encoder features; turn them off")


def encoder_fingerprint(model: SSLNet) -> str:
    """sha256 of the encoder's config and every weight: what its hidden states depend on."""
    digest = hashlib.sha256(model.config.encoder_json.encode())
    for name, tensor in sorted(model.encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def store_for(model: SSLNet, feature_config: FeatureConfig, cache_dir: str | None) -> FeatureStore:
    """The store of ``model``'s encoder hidden states for clips cut at ``max_seconds``."""
    root = Path(cache_dir) if cache_dir else default_cache_root()
    return FeatureStore(root / STORE_DIR, {
        "kind": "ssl-hidden-states", "encoder": encoder_fingerprint(model),
        "encoder_name": model.config.encoder, "layers": list(model.config.layer_indices),
        "sample_rate": feature_config.sample_rate, "max_seconds": feature_config.max_seconds})


def hidden_state_computer(model: SSLNet):
    """``compute(waves)`` for the store: one float32 (T_i, L, D) array per wave."""
    @torch.inference_mode()
    def compute(waves: list[np.ndarray]) -> list[np.ndarray]:
        batch = torch.zeros(len(waves), max(len(w) for w in waves))
        for row, wave in enumerate(waves):
            batch[row, :len(wave)] = torch.from_numpy(np.asarray(wave, np.float32))
        lengths = torch.tensor([len(w) for w in waves])
        states, frames = model.hidden_states(batch, lengths)
        return [s[:, :n].permute(1, 0, 2).numpy() for s, n in zip(states, frames.tolist())]
    return compute


class WaveDataset(Dataset):
    """Clips read from their audio files on demand (for fine-tuning the encoder):
    ``dataset[i]`` is ``(wave (S,), S, target, i)``; :meth:`collate` pads with zeros into a
    :class:`~sertk.data.dataset.Batch` of waveforms (B, S_max) with sample ``lengths``."""

    def __init__(self, sources: Sequence, targets: Sequence[int], feature_config: FeatureConfig):
        self.paths = [str(_path_of(s)) for s in sources]
        self.feature_config = feature_config
        self.targets = torch.as_tensor(list(targets), dtype=torch.long)
        durations = [getattr(s, "duration", None) for s in sources]
        rate, limit = feature_config.sample_rate, feature_config.max_samples
        self.lengths = torch.tensor([min(limit, int((d or 0) * rate)) or limit
                                     for d in durations])  # for bucketing only

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        wave = torch.from_numpy(load_clip(self.paths[i], self.feature_config))
        return wave, wave.shape[0], int(self.targets[i]), i

    def collate(self, samples: Sequence[tuple]) -> Batch:
        waves, lengths, targets, index = zip(*samples)
        x = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)  # zeros after each wave
        return Batch(x, torch.tensor(lengths, dtype=torch.long),
                     torch.tensor(targets, dtype=torch.long), torch.tensor(index, dtype=torch.long))


def ssl_fold_data(config: TrainConfig, utterances: Sequence[Utterance], fold: Fold,
                  labels: Sequence[str], feature_config: FeatureConfig) -> FoldData:
    """One fold's datasets for the recipe's SSL model: stored hidden states (frozen
    encoder) or audio (fine-tuning).

    Raises:
        ConfigError: a recipe key the SSL model cannot honour.
        FeatureCacheError: naming every file the encoder could not read.
    """
    from sertk.models import create_model
    check_ssl_recipe(config)
    model = create_model(config.model.name, n_classes=len(labels), **config.model.args)
    by_id = {u.id: u for u in utterances}
    index = {label: i for i, label in enumerate(labels)}
    if model.config.finetune_layers:
        def dataset(ids):
            return WaveDataset([by_id[i] for i in ids], [index[by_id[i].label] for i in ids],
                               feature_config) if ids else None
    else:
        store = store_for(model, feature_config, config.data.cache_dir or None)
        wanted = [by_id[i] for part in (fold.train_ids, fold.val_ids, fold.test_ids) for i in part]
        store.build(wanted, hidden_state_computer(model.eval()),
                    lambda path: load_clip(path, feature_config),
                    progress=config.runtime.progress_bar).raise_for_failures()
        reader = store.open()

        def dataset(ids):
            return StoredDataset(reader, [by_id[i] for i in ids],
                                 [index[by_id[i].label] for i in ids]) if ids else None

    counts = np.bincount([index[by_id[i].label] for i in fold.train_ids], minlength=len(labels))
    empty = np.zeros(0, dtype=np.float32)
    return FoldData(dataset(fold.train_ids), dataset(fold.val_ids), dataset(fold.test_ids),
                    empty, empty, torch.zeros(0), counts)
