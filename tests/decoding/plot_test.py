"""Attention heat-maps: one head grid per layer, labelled with the tokens."""
import numpy as np
import pytest
from matplotlib.image import imread

from tf_transformer.decoding.plot import plot_attention_heads, save_attention_plots
from tf_transformer.decoding.translator import Translation

SOURCE = ["[START]", "▁Ein", "▁Mann", "▁fährt", "▁Fahrrad", ".", "[END]"]
TARGET = ["▁A", "▁man", "▁rides", "▁a", "▁bike", ".", "[END]"]


def attention(rng, layers, heads, queries, keys):
    weights = rng.random((layers, heads, queries, keys))
    return weights / weights.sum(-1, keepdims=True)


def test_plot_attention_heads_grid_labels_and_values():
    weights = attention(np.random.default_rng(0), 1, 6, len(TARGET), len(SOURCE))[0]
    figure = plot_attention_heads(weights, TARGET, SOURCE, "layer 1", columns=4)
    heat_maps = [ax for ax in figure.axes if ax.images]
    assert len(heat_maps) == 6 and len(figure.axes) == 2 * 4 + 1  # 2 blank cells, colorbar
    for head, ax in enumerate(heat_maps):
        assert [t.get_text() for t in ax.get_xticklabels()] == SOURCE
        assert [t.get_text() for t in ax.get_yticklabels()] == TARGET
        np.testing.assert_array_equal(ax.images[0].get_array(), weights[head])
    with pytest.raises(ValueError, match="need 7 query and 7 key labels, got 6 and 7"):
        plot_attention_heads(weights, TARGET[:-1], SOURCE)


def test_save_attention_plots_writes_one_png_per_layer_and_kind(tmp_path):
    rng = np.random.default_rng(1)
    translation = Translation(
        text="A man rides a bike.", score=-1.0, nbest=[], source_tokens=SOURCE,
        target_tokens=TARGET, truncated=False,
        cross_attention=attention(rng, 2, 4, len(TARGET), len(SOURCE)),
        encoder_attention=attention(rng, 2, 4, len(SOURCE), len(SOURCE)))
    paths = save_attention_plots(translation, str(tmp_path / "plots"))
    assert [p.rsplit("/", 1)[1] for p in paths] == [
        "cross_attention_layer1.png", "cross_attention_layer2.png",
        "encoder_self_attention_layer1.png", "encoder_self_attention_layer2.png"]
    height, width, _ = imread(paths[0]).shape
    assert width > 600 and height > 200
    translation.cross_attention = None
    with pytest.raises(ValueError, match="with_attention=True"):
        save_attention_plots(translation, str(tmp_path))
