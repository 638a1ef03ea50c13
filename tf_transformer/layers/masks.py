"""Boolean attention masks, built once in the model and passed down.

Notation: B batch, T target length, S source length. Masks are boolean and
True means "may attend"; they broadcast to the attention scores
`(B, H, T_q, T_k)` after `attention_mask[:, None]`.
"""

from keras import ops

from tf_transformer.special_tokens import PAD_ID


def padding_mask(token_ids):
    """`(B, T)` int ids -> `(B, T)` bool, True where the token is not padding."""
    return ops.not_equal(token_ids, PAD_ID)


def attention_mask(query_length, key_padding_mask):
    """Key-padding mask expanded over queries.

    Args:
        query_length: int, T_q.
        key_padding_mask: `(B, T_k)` bool, True for real keys.

    Returns:
        `(B, T_q, T_k)` bool.
    """
    mask = ops.expand_dims(key_padding_mask, 1)
    return ops.repeat(mask, query_length, axis=1)


def causal_mask(batch_size, query_length, key_length, cache_index=0):
    """Lower-triangular mask, also for queries that start at `cache_index`.

    Query i (absolute position `cache_index + i`) may attend to keys
    `0 .. cache_index + i`. With a fixed-size cache of `key_length` slots this
    also hides the slots not yet written.

    Returns:
        `(B, T_q, T_k)` bool.
    """
    query_positions = ops.arange(query_length)[:, None] + cache_index
    key_positions = ops.arange(key_length)[None, :]
    mask = ops.greater_equal(query_positions, key_positions)
    return ops.broadcast_to(mask[None], (batch_size, query_length, key_length))


def beam_history_mask(ancestors, index):
    """Self-attention mask of K beams that share one fixed-size cache row.

    Beam k writes position t at slot `k · T + t` of its sentence's cache; its
    hypothesis may have been continued from other beams, so its history is
    spread over their slots.

    Args:
        ancestors: int `(B, K, T)`; `ancestors[b, k, t]` is the beam whose
            slots hold position t of beam k's hypothesis.
        index: int scalar, the position being decoded.

    Returns:
        `(B, K, K · T)` bool: slot `j · T + t` is True for beam k where
        `ancestors[b, k, t] == j` and `t <= index`.
    """
    batch, beams, length = (ops.shape(ancestors)[i] for i in range(3))
    owner = ops.equal(
        ops.expand_dims(ancestors, 2),
        ops.reshape(ops.arange(beams, dtype=ancestors.dtype), (1, 1, -1, 1)),
    )  # (B, K, K, T)
    written = ops.less_equal(ops.arange(length), index)
    return ops.reshape(ops.logical_and(owner, written), (batch, beams, beams * length))
