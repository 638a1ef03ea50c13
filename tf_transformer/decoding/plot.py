"""Attention heat-maps with matplotlib: one grid of heads per layer.

Figures are built with the object-oriented API on the Agg canvas (no pyplot, no GUI
backend), so the same functions work in scripts, tests and notebooks, where a returned
`Figure` displays inline.

Example:
  >>> (result,) = translator.translate_detailed(["Ein Mann fährt Fahrrad."],
  ...                                           with_attention=True)
  >>> figure = plot_attention_heads(result.cross_attention[-1], result.target_tokens,
  ...                               result.source_tokens, "decoder layer 6")
  >>> save_attention_plots(result, "plots/")  # every layer, cross and encoder self
"""
import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_attention_heads(weights, query_labels, key_labels, title: str = "",
                         columns: int = 4) -> Figure:
    """One heat-map per head, queries down and keys across, in a grid.

    Args:
      weights: (H, T_q, T_k) attention weights of one layer (rows sum to 1).
      query_labels: T_q strings (rows), e.g. the generated subwords.
      key_labels: T_k strings (columns), e.g. the source subwords.
      title: figure title.
      columns: heads per grid row.

    Returns:
      a `matplotlib.figure.Figure` (save with `figure.savefig(path)`).
    """
    weights = np.asarray(weights)
    heads, rows, cols = weights.shape
    if (rows, cols) != (len(query_labels), len(key_labels)):
        raise ValueError(f"weights of shape {weights.shape} need {rows} query and {cols} key "
                         f"labels, got {len(query_labels)} and {len(key_labels)}.")
    columns = min(columns, heads)
    grid_rows = math.ceil(heads / columns)
    # About 0.3 inch per token keeps the tick labels legible.
    cell_w, cell_h = max(2.5, 0.3 * cols + 1.2), max(2.5, 0.3 * rows + 1.2)
    figure = Figure(figsize=(columns * cell_w, grid_rows * cell_h + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(grid_rows, columns, squeeze=False)
    for head, ax in enumerate(axes.flat):
        if head >= heads:
            ax.set_axis_off()
            continue
        image = ax.imshow(weights[head], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_title(f"head {head + 1}", fontsize=9)
        ax.set_xticks(range(cols), key_labels, rotation=90, fontsize=8)
        ax.set_yticks(range(rows), query_labels, fontsize=8)
    figure.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    if title:
        figure.suptitle(title)
    return figure


def save_attention_plots(translation, output_dir: str) -> list:
    """Writes one PNG per layer for the cross-attention and the encoder self-attention.

    Args:
      translation: a `Translation` from `translate_detailed(..., with_attention=True)`.
      output_dir: folder for `cross_attention_layer<i>.png` and
        `encoder_self_attention_layer<i>.png` (i from 1), created if needed.

    Returns:
      the paths written, cross-attention layers first.
    """
    if translation.cross_attention is None:
        raise ValueError("The translation has no attention weights: translate it with "
                         "translate_detailed(..., with_attention=True).")
    os.makedirs(output_dir, exist_ok=True)
    source, target = translation.source_tokens, translation.target_tokens
    plots = [("cross_attention", "decoder cross-attention", translation.cross_attention,
              target, source),
             ("encoder_self_attention", "encoder self-attention",
              translation.encoder_attention, source, source)]
    paths = []
    for stem, label, weights, queries, keys in plots:
        for layer, layer_weights in enumerate(weights, start=1):
            figure = plot_attention_heads(
                layer_weights, queries, keys,
                f"{label}, layer {layer}: {translation.text!r}")
            paths.append(os.path.join(output_dir, f"{stem}_layer{layer}.png"))
            figure.savefig(paths[-1], dpi=100)
    return paths
