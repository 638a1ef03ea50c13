"""Decoding: model-agnostic greedy/beam search, the `Translator`, evaluation and plots."""
