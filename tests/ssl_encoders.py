"""Tiny random SSL encoders saved to a local directory (tests never touch the network).

``write_tiny_encoder(dir, kind)`` saves a 2-layer, 32-wide WavLM / wav2vec2 / HuBERT with a
two-layer CNN (receptive field 20 samples, stride 10) via ``save_pretrained``.
"""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may download


def tiny_encoder_config(kind: str = "wavlm", feat_extract_norm: str = "layer"):
    import transformers
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, conv_dim=(32, 32), conv_kernel=(10, 3),
                  conv_stride=(5, 2), num_conv_pos_embeddings=16,
                  num_conv_pos_embedding_groups=2, feat_extract_norm=feat_extract_norm,
                  hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0)
    if kind == "wavlm":
        return transformers.WavLMConfig(num_buckets=32, max_bucket_distance=80, **common)
    if kind == "wav2vec2":
        return transformers.Wav2Vec2Config(**common)
    if kind == "hubert":
        return transformers.HubertConfig(**common)
    raise ValueError(kind)


def write_tiny_encoder(directory: Path, kind: str = "wavlm", seed: int = 0,
                       feat_extract_norm: str = "layer") -> Path:
    """Save a tiny random encoder of ``kind`` into ``directory``; returns it."""
    import torch
    import transformers
    torch.manual_seed(seed)
    config = tiny_encoder_config(kind, feat_extract_norm)
    model = transformers.AutoModel.from_config(config)
    model.save_pretrained(directory)
    return Path(directory)
