"""Padding removal: position-wise work on the real tokens of a padded batch only.

Batches padded to their longest sentence are about half padding on Multi30k
(128 pairs: ~3,500 target positions for ~1,800 tokens). Everything in a
Transformer layer except attention is position-wise (projections,
feed-forward, layer norms, dropout, residuals), so it can run on the `(N, D)`
real tokens alone; attention gathers its queries, keys and values into the
`(B, H, T, Dh)` head layout, where its masks already hide the padding.

Packing needs a data-dependent N: TensorFlow graph or eager mode, or eager
JAX; not XLA (`jit_compile`), which needs static shapes.
"""

from keras import ops


class TokenPacking:
    """Where the real tokens of a padded `(B, T)` batch are, in row order.

    Every move between the packed `(N, ...)` and padded layouts is one gather,
    and the move back is its gradient (the plain gradient of a gather, a
    scatter-add, is several times slower on CPU). Attention's inputs and
    outputs move straight between packed tokens and the `(B, H, T, Dh)` head
    layout, so splitting and merging heads costs no transposes.

    Args:
        token_mask: bool `(B, T)`, True for real tokens (see
            `masks.padding_mask`); at least one must be True.
        multiple_of: int; the first padding positions join the packed tokens
            until N is a multiple of it (or there is no padding left). Kernel
            libraries (oneDNN) prepare each matrix shape once and cache it; an
            N that changes with every batch would prepare new ones at every
            step. Padding rows are computed like real ones and, as in the
            padded model, hidden by the masks and ignored by the loss.

    Example:
    >>> packing = TokenPacking(np.array([[True, True, False], [True, False, False]]))
    >>> x = keras.random.normal((2, 3, 4))
    >>> packing.pack(x).shape                  # the 3 real tokens
    (3, 4)
    >>> packing.unpack(packing.pack(x)).shape  # zeros at the padding
    (2, 3, 4)
    """

    def __init__(self, token_mask, multiple_of=1):
        shape = ops.shape(token_mask)
        self.batch_size, self.length = shape[0], shape[1]
        flat_mask = ops.reshape(token_mask, (-1,))
        if multiple_of > 1:
            padding = ops.logical_not(flat_mask)
            missing = -ops.sum(ops.cast(flat_mask, "int32")) % multiple_of
            rank = ops.cumsum(ops.cast(padding, "int32"))  # 1, 2, ... over the padding
            flat_mask = ops.logical_or(flat_mask, ops.logical_and(padding, rank <= missing))
        self.indices = ops.nonzero(flat_mask)[0]  # (N,): flat position of each token
        # (B·T,): each position's row in the packed tokens, -1 at the padding.
        self.rows = ops.where(flat_mask, ops.cumsum(ops.cast(flat_mask, "int32")) - 1, -1)
        self._gather_indices = {}  # built once per call, shared by all layers

    def pack(self, x):
        """`(B, T, D)` -> `(N, D)`, the rows of the real tokens."""
        return self.pack_heads(ops.expand_dims(x, 1))

    def unpack(self, x):
        """`(N, D)` -> `(B, T, D)`, zeros at the padding."""
        return ops.squeeze(self.unpack_heads(x, 1, zero_padding=True), 1)

    def select(self, x):
        """`(B, T, ...)` -> `(N, ...)` for tensors that need no gradient (labels)."""
        return ops.take(ops.reshape(x, (-1, *ops.shape(x)[2:])), self.indices, axis=0)

    def pack_heads(self, x, parts=1):
        """`(B, H, T, Dh)` -> `(N, H · Dh)`: the real tokens, heads merged.

        With `parts` P > 1, `x` is `(P, B, H, T, Dh)` and the result
        `(N, P · H · Dh)` (the inverse of `unpack_heads` with `parts`).
        """
        heads = ops.shape(x)[-3]
        pack_index, unpack_index = self._indices(heads, parts, zero_padding=True)

        @ops.custom_gradient
        def pack_heads(x):
            def grad(*args, upstream=None):
                upstream = args[0] if upstream is None else upstream
                return self._unpack_rows(upstream, unpack_index, heads, parts, True)

            return self._pack_rows(x, pack_index, parts), grad

        return pack_heads(x)

    def unpack_heads(self, x, num_heads, zero_padding=False, parts=1):
        """`(N, H · Dh)` -> `(B, H, T, Dh)`, the layout attention works in.

        With `parts` P > 1, `x` is `(N, P · H · Dh)`, P projections side by
        side (queries, keys and values from one matrix product), and the
        result a tuple of P `(B, H, T, Dh)`: views of one gather, with one
        gather back as the gradient.

        Without `zero_padding` the padding holds copies of a real token's
        rows: finite and cheaper. That suits attention's queries, keys and
        values: masks hide padded keys and `pack_heads` drops padded queries,
        so their rows get exactly zero gradient, which is what this function's
        gradient (`pack_heads`) assumes.
        """
        pack_index, unpack_index = self._indices(num_heads, parts, zero_padding)

        @ops.custom_gradient
        def unpack_heads(x):
            def grad(*args, upstream=None):
                # TensorFlow passes one upstream per output, JAX one tuple.
                upstream = (args[0] if len(args) == 1 else args) if upstream is None else upstream
                return self._pack_rows(ops.stack(upstream) if parts > 1 else upstream,
                                       pack_index, parts)

            rows = self._unpack_rows(x, unpack_index, num_heads, parts, zero_padding)
            return (tuple(rows[part] for part in range(parts)) if parts > 1 else rows), grad

        return unpack_heads(x)

    def _pack_rows(self, x, index, parts):
        """The gather of `pack_heads`: `([P,] B, H, T, Dh)` -> `(N, P · H · Dh)`."""
        heads, head_dim = ops.shape(x)[-3], ops.shape(x)[-1]
        rows = ops.take(ops.reshape(x, (-1, head_dim)), index, axis=0)
        return ops.reshape(rows, (-1, parts * heads * head_dim))

    def _unpack_rows(self, x, index, num_heads, parts, zero_padding):
        """The gather of `unpack_heads`: `(N, P · H · Dh)` -> `([P,] B, H, T, Dh)`."""
        head_dim = ops.shape(x)[1] // (num_heads * parts)
        rows = ops.reshape(x, (-1, head_dim))  # (N · P · H, Dh)
        if zero_padding:
            rows = ops.concatenate([rows, ops.zeros((1, head_dim), rows.dtype)])
        rows = ops.take(rows, index, axis=0)
        shape = (self.batch_size, num_heads, self.length, head_dim)
        return ops.reshape(rows, (parts, *shape) if parts > 1 else shape)

    def _indices(self, heads, parts, zero_padding):
        """The pack and unpack gather indices, built before a custom gradient
        rather than inside it: JAX traces forward and backward functions
        apart, and an index built (and cached) inside one of them could not be
        used by the other, nor by the next layer."""
        return self._pack_index(heads, parts), self._unpack_index(heads, zero_padding, parts)

    def _pack_index(self, heads, parts=1):
        """(N · P · H,): row `p·B·H·T + b·H·T + h·T + t` of `(P·B·H·T, Dh)`
        for token (b, t), part p, head h."""
        key = ("pack", heads, parts)
        if key not in self._gather_indices:
            batch, time = self.indices // self.length, self.indices % self.length
            first = batch * heads * self.length + time
            part = ops.arange(parts, dtype=first.dtype) * (self.batch_size * heads * self.length)
            head = ops.arange(heads, dtype=first.dtype) * self.length
            index = first[:, None, None] + part[None, :, None] + head[None, None, :]
            self._gather_indices[key] = ops.reshape(index, (-1,))
        return self._gather_indices[key]

    def _unpack_index(self, heads, zero_padding, parts=1):
        """(P·B·H·T,): row `n·P·H + p·H + h` of `(N·P·H, Dh)` for (p, b, h, t);
        padding reads row N·P·H (zeros, appended) or row p·H + h of the first
        token."""
        key = ("unpack", heads, zero_padding, parts)
        if key not in self._gather_indices:
            rows = ops.reshape(self.rows, (1, self.batch_size, 1, self.length))
            head = ops.reshape(ops.arange(parts * heads, dtype=rows.dtype), (parts, 1, heads, 1))
            padding = ops.shape(self.indices)[0] * parts * heads if zero_padding else head
            index = ops.where(rows >= 0, rows * (parts * heads) + head, padding)
            self._gather_indices[key] = ops.reshape(index, (-1,))
        return self._gather_indices[key]
