"""Lengths, masks and the two named layout changes shared by every block.

A batch holds utterances padded to the longest one; ``lengths`` (B,) counts the real frames
of each row. Every block keeps the padding out of its results, so an utterance padded in a
batch gives the same output as alone. Only the helpers here turn lengths into masks and
transpose between the two layouts: convolutions see (B, C, T), recurrent and attention
layers (B, T, C).
"""
from __future__ import annotations

import torch


def channels_first(x: torch.Tensor) -> torch.Tensor:
    """(B, T, C) -> (B, C, T), the layout of convolutions."""
    return x.transpose(1, 2)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T) -> (B, T, C), the layout of recurrent and attention layers."""
    return x.transpose(1, 2)


def valid_mask(lengths: torch.Tensor, n_frames: int) -> torch.Tensor:
    """(B,) lengths -> (B, n_frames) bool, True on real frames.

    Example:
        >>> valid_mask(torch.tensor([1, 3]), 3).tolist()
        [[True, False, False], [True, True, True]]
    """
    frames = torch.arange(n_frames, device=lengths.device)
    return frames[None, :] < lengths[:, None]


def zero_padding(x: torch.Tensor, lengths: torch.Tensor | None, time_dim: int) -> torch.Tensor:
    """Set the padded frames of ``x`` to zero (``time_dim`` 2 for (B, C, T), 1 for (B, T, C));
    ``x`` unchanged when ``lengths`` is None.

    Called before every "same" convolution, so a clip padded in a batch sees the same zeros
    past its end as alone. ``where`` rather than a product: non-finite padding cannot leak in
    as NaN.
    """
    if lengths is None:
        return x
    mask = valid_mask(lengths, x.shape[time_dim])  # (B, T)
    mask = mask[:, None, :] if time_dim == 2 else mask[:, :, None]
    return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))


def drop_unpadded(lengths: torch.Tensor | None, n_frames: int) -> torch.Tensor | None:
    """``None`` when no row of the batch is padded (every length is ``n_frames``).

    On an unpadded batch the masked and the plain path compute the same values, and the plain
    one skips the masks and the BLSTM's within-length reversals. ``lengths`` is kept while
    tracing, exporting or compiling, where the branch would be frozen into the graph.

    Example:
        >>> drop_unpadded(torch.tensor([5, 5]), 5) is None, drop_unpadded(torch.tensor([5, 3]), 5)
        (True, tensor([5, 3]))
    """
    if lengths is None or _capturing():
        return lengths
    return None if bool((lengths == n_frames).all()) else lengths


def _capturing() -> bool:
    """Whether the model is being traced, exported to ONNX or compiled."""
    return (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
            or torch.compiler.is_compiling())


def check_lengths(lengths: torch.Tensor | None, batch: int, n_frames: int,
                  device: torch.device) -> torch.Tensor | None:
    """Validate ``lengths`` for a (B, ..., T) batch and return them as int64 on ``device``:
    ValueError unless a (B,) integer tensor with ``1 <= lengths <= n_frames`` (the value
    checks are skipped while tracing, where they would be frozen into the graph)."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
    if lengths.dtype.is_floating_point or lengths.dtype.is_complex or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be an integer tensor, got {lengths.dtype}")
    if not torch.jit.is_tracing() and batch > 0:
        low, high = int(lengths.min()), int(lengths.max())
        if low < 1 or high > n_frames:
            raise ValueError(f"lengths must lie in [1, {n_frames}] (the padded length), "
                             f"got min {low} and max {high}")
    return lengths.to(device=device, dtype=torch.long)
