"""The architecture of a `Transformer`: its frozen config, the presets, the dimension check.

No Keras here: run configs (`training/config.py`) are checked with the same rules
without starting TensorFlow.
"""

import dataclasses
from typing import Literal


def check_dimensions(d_model, num_heads, dropout=0.0):
    """Raises a `ValueError` quoting the values unless they make valid heads."""
    if d_model <= 0 or num_heads <= 0 or d_model % num_heads:
        raise ValueError(
            "d_model must be a positive multiple of num_heads, got "
            f"d_model={d_model} and num_heads={num_heads}."
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got dropout={dropout}.")


def check_linear_init(linear_init):
    """Raises a `ValueError` unless `linear_init` is "keras" or "pytorch"."""
    if linear_init not in ("keras", "pytorch"):
        raise ValueError(f"linear_init must be 'keras' or 'pytorch', got {linear_init!r}.")


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Architecture of a `Transformer`; presets are instances of it."""

    src_vocab_size: int  # source token ids, specials included
    tgt_vocab_size: int  # target token ids, specials included
    d_model: int = 256  # width of embeddings and every residual stream
    num_heads: int = 8  # attention heads; must divide d_model
    num_encoder_layers: int = 6
    num_decoder_layers: int = 6
    ff_dim: int = 1024  # hidden width of the position-wise feed-forward
    dropout: float = 0.1  # on embeddings, attention weights, residuals, ff hidden
    norm_first: bool = False  # False: post-norm (the seed); True: pre-norm
    max_length: int = 256  # positions with an encoding, per side
    tie_embeddings: bool = False  # output projection = target embedding table
    tie_all_embeddings: bool = False  # one table: source = target = output projection
    activation: str = "relu"  # feed-forward activation
    layer_norm_epsilon: float = 1e-5  # PyTorch's default
    # Variance scale of the query/key/value kernels' Glorot-uniform initialization.
    # 0.5 is PyTorch's: Xavier over its stacked (3D, D) in-projection (docs/parity.md).
    qkv_init_scale: float = 1.0
    # "pytorch": nn.Linear's U(±1/√fan_in) for the output layer's kernel and the
    # feed-forward and output biases, as in the PyTorch seed (docs/parity.md);
    # "keras": Glorot-uniform kernels, zero biases.
    linear_init: Literal["keras", "pytorch"] = "keras"
    # How the train step runs the model; outputs and weights are the same either way.
    remove_padding: bool = False  # skip padding in position-wise layers (not under XLA)
    packing_multiple: int = 64  # round packed token counts up to a multiple (packing.py)

    def __post_init__(self):
        for name in ("src_vocab_size", "tgt_vocab_size", "max_length", "ff_dim",
                     "num_encoder_layers", "num_decoder_layers", "packing_multiple",
                     "qkv_init_scale"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")
        if self.tie_all_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                "tie_all_embeddings needs one vocabulary for both languages, got "
                f"src_vocab_size={self.src_vocab_size} and tgt_vocab_size={self.tgt_vocab_size}."
            )
        check_linear_init(self.linear_init)
        check_dimensions(self.d_model, self.num_heads, self.dropout)


# The architectures; vocabulary sizes come from the tokenizers.
PRESETS = {
    # The PyTorch walkthrough this project ports.
    "seed": dict(d_model=256, num_heads=8, num_encoder_layers=6,
                 num_decoder_layers=6, ff_dim=1024, dropout=0.1),
    # "Attention Is All You Need", base model.
    "base": dict(d_model=512, num_heads=8, num_encoder_layers=6,
                 num_decoder_layers=6, ff_dim=2048, dropout=0.1),
    # For tests and quick experiments; 128 positions, the default data.max_length, so
    # that `--set model.preset=tiny` alone is a valid run config.
    "tiny": dict(d_model=32, num_heads=4, num_encoder_layers=2,
                 num_decoder_layers=2, ff_dim=64, dropout=0.1, max_length=128),
}


def preset_config(name, src_vocab_size, tgt_vocab_size, **overrides) -> TransformerConfig:
    """The `TransformerConfig` of a preset; `overrides` replace its fields."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    fields = {f.name for f in dataclasses.fields(TransformerConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"Unknown TransformerConfig field(s) {unknown}; valid: {sorted(fields)}."
        )
    return TransformerConfig(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size,
                             **{**PRESETS[name], **overrides})
