"""The paper's system and its seven ablations (SPEC 3, paper Table 2).

Each constructor only names the config fields its variant changes; everything
else is the proposed system's default. Keyword overrides win over the variant.
"""
from __future__ import annotations

from sertk.models.registry import register_model
from sertk.models.sernet import SERNet, SERNetConfig


def _create(variant: dict, overrides: dict) -> SERNet:
    return SERNet(SERNetConfig(**{**variant, **overrides}))


@register_model("the paper's system: 3-Conv, 2 x residual-BLSTM, time pooling, "
                "3 x E-transformer, stats pooling")
def proposed(**overrides) -> SERNet:
    return _create({}, overrides)


@register_model("w/ BLSTM: residual-BLSTM -> plain BLSTM block")
def base1(**overrides) -> SERNet:
    return _create({"blstm": "plain"}, overrides)


@register_model("w/ transformer: E-transformer -> plain transformer block")
def base2(**overrides) -> SERNet:
    return _create({"transformer": "plain"}, overrides)


@register_model("w/ BLSTM and transformer: both replacements of base1 and base2")
def base3(**overrides) -> SERNet:
    return _create({"blstm": "plain", "transformer": "plain"}, overrides)


@register_model("w/o time pooling")
def base4(**overrides) -> SERNet:
    return _create({"time_pooling": False}, overrides)


@register_model("Conv-residual-BLSTM: no time pooling, no transformer")
def base5(**overrides) -> SERNet:
    return _create({"time_pooling": False, "transformer": "none"}, overrides)


@register_model("Conv-BLSTM: plain BLSTM blocks, no time pooling, no transformer")
def base6(**overrides) -> SERNet:
    return _create({"blstm": "plain", "time_pooling": False, "transformer": "none"}, overrides)


@register_model("BLSTM baseline: 2 x plain BLSTM block only (no conv, pooling or transformer)")
def base7(**overrides) -> SERNet:
    return _create({"conv_front": False, "blstm": "plain", "time_pooling": False,
                    "transformer": "none"}, overrides)


SSL_REQUIRES = "model_args.encoder: a hub name or a local directory of a WavLM/wav2vec2/HuBERT"


@register_model("SSL encoder (frozen), weighted layer sum, projection + the paper's back-end "
                "without 3-Conv", name="ssl-proposed", requires=SSL_REQUIRES)
def ssl_proposed(**overrides):
    from sertk.models.ssl import create_ssl_model
    return create_ssl_model("proposed", overrides)


@register_model("SSL encoder (frozen), weighted layer sum, stats pooling + MLP head",
                name="ssl-linear", requires=SSL_REQUIRES)
def ssl_linear(**overrides):
    from sertk.models.ssl import create_ssl_model
    return create_ssl_model("linear", overrides)
