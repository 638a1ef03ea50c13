"""Padding removal: position-wise work on the real tokens of a padded batch only.

Batches padded to their longest sentence are about half padding on Multi30k
(128 pairs: ~3,500 target positions for ~1,800 tokens). Everything in a
Transformer layer except attention is position-wise (projections,
feed-forward, layer norms, dropout, residuals), so it can run on the `(N, D)`
real tokens alone; attention unpacks its queries, keys and values to
`(B, T, ...)` with zeros at the padding, which its masks already hide.

Packing needs a data-dependent N: TensorFlow graph or eager mode, or eager
JAX; not XLA (`jit_compile`), which needs static shapes.
"""

from keras import ops


class TokenPacking:
    """Where the real tokens of a padded `(B, T)` batch are, in row order.

    `pack` and `unpack` are gathers, and each is the other's gradient (the
    plain gradient of a gather is a scatter-add, several times slower on CPU).

    Args:
        token_mask: bool `(B, T)`, True for real tokens (see
            `masks.padding_mask`).

    Example:
    >>> packing = TokenPacking(np.array([[True, True, False], [True, False, False]]))
    >>> x = keras.random.normal((2, 3, 4))
    >>> packing.pack(x).shape                  # the 3 real tokens
    (3, 4)
    >>> packing.unpack(packing.pack(x)).shape  # zeros at the padding
    (2, 3, 4)
    """

    def __init__(self, token_mask):
        shape = ops.shape(token_mask)
        self.batch_size, self.length = shape[0], shape[1]
        flat_mask = ops.reshape(token_mask, (-1,))
        self.indices = ops.nonzero(flat_mask)[0]  # (N,): flat position of each token
        # (B·T,): each position's row in the packed tokens; padding reads row N,
        # a row of zeros appended by `unpack`.
        self.rows = ops.where(
            flat_mask, ops.cumsum(ops.cast(flat_mask, "int32")) - 1,
            ops.shape(self.indices)[0],
        )

    def pack(self, x):
        """`(B, T, ...)` -> `(N, ...)`, the rows of the real tokens."""

        @ops.custom_gradient
        def pack(x):
            def grad(*args, upstream=None):
                return self.unpack(args[0] if upstream is None else upstream)

            flat = ops.reshape(x, (-1, *ops.shape(x)[2:]))
            return ops.take(flat, self.indices, axis=0), grad

        return pack(x)

    def unpack(self, x):
        """`(N, ...)` -> `(B, T, ...)`, zeros at the padding."""

        @ops.custom_gradient
        def unpack(x):
            def grad(*args, upstream=None):
                return self.pack(args[0] if upstream is None else upstream)

            row_shape = ops.shape(x)[1:]  # gradients may lack static shapes
            rows = ops.concatenate([x, ops.zeros((1, *row_shape), x.dtype)])
            flat = ops.take(rows, self.rows, axis=0)
            return ops.reshape(flat, (self.batch_size, self.length, *row_shape)), grad

        return unpack(x)
