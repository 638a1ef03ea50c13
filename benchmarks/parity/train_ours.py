"""Trains our seed model on the dumped batches and writes its loss per update (our
side of the parity experiment, see docs/parity.md).

The model, loss and optimizer are what `tf-transformer train --config seed` builds
(`trainer.build_training_model`, `trainer.compile_model`); `--set` overrides the run config
as on the command line (e.g. `--set optimizer.schedule=inverse_sqrt --set
optimizer.warmup_steps=4000`). Each `--factor` changes one thing towards PyTorch's
nn.Transformer before training (the factor search). The factors that end the plateau
are now the seed config's own: PyTorch's query/key/value initialization
(`model.qkv_init_scale: 0.5`, was the factor `attention_init`) and nn.Linear's output
kernel and biases (`model.linear_init: pytorch`, were `output_init` and
`linear_bias_init`); `--set model.qkv_init_scale=1 --set model.linear_init=keras` gives
the Keras initialization of the first runs:

    nice -n 19 python -m benchmarks.parity.train_ours --batches /tmp/parity/batches.npz \
        --updates 400 --seed 1 --out /tmp/parity/ours_s1.csv [--factor NAME ...] \
        [--init-from /tmp/parity/torch_init_s1.npz]

Run it from the repository root with `-m`, so that this checkout's code is imported.
`--init-from` copies PyTorch's initial weights (`train_torch.py --save-init`) into our
model (it implies the `final_norm` factor, as nn.Transformer has those norms).
"""

import argparse
import csv

import keras
import numpy as np

from tf_transformer.layers.normalization import LayerNormalization
from tf_transformer.training import config as run_config
from tf_transformer.training.trainer import (
    _configure_threads, build_training_model, compile_model,
)


def _blocks(model):
    return model.encoder.blocks + model.decoder.blocks


def embedding_init(model, rng):
    """nn.Embedding's N(0, 1) tables (ours: N(0, 1/D), i.e. unit variance after the
    √D scaling; PyTorch's are √D = 16 times larger)."""
    for stack in (model.encoder, model.decoder):
        table = stack.embedding.embeddings
        table.assign(rng.standard_normal(table.shape).astype("float32"))


def final_norm(model, rng):
    """nn.Transformer's encoder and decoder end with a LayerNorm also in post-norm
    (ours only in pre-norm)."""
    for stack in (model.encoder, model.decoder):
        stack._tracker.unlock()  # the stacks are built: Keras locks their state
        stack.final_norm = LayerNormalization(epsilon=model.config.layer_norm_epsilon,
                                              name=f"{stack.name}_final_layer_norm")
        stack.final_norm.build((None, None, model.config.d_model))
        stack._tracker.lock()


FACTORS = {f.__name__: f for f in (embedding_init, final_norm)}


def load_torch_weights(model, path):
    """Copies a PyTorch `Seq2SeqTransformer` state_dict (as arrays) into `model`."""
    weights = dict(np.load(path))
    used = set()

    def take(name):
        used.add(name)
        return weights[name]

    def dense(layer, prefix, rows=None):
        kernel, bias = take(prefix + ".weight"), take(prefix + ".bias")
        if rows is not None:
            kernel, bias = kernel[rows], bias[rows]
        layer.kernel.assign(kernel.T)
        layer.bias.assign(bias)

    def norm(layer, prefix):
        layer.gamma.assign(take(prefix + ".weight"))
        layer.beta.assign(take(prefix + ".bias"))

    def attention(layer, prefix):
        d = model.config.d_model
        for i, part in enumerate((layer.query_dense, layer.key_dense, layer.value_dense)):
            part.kernel.assign(take(prefix + ".in_proj_weight")[i * d:(i + 1) * d].T)
            part.bias.assign(take(prefix + ".in_proj_bias")[i * d:(i + 1) * d])
        dense(layer.output_dense, prefix + ".out_proj")

    model.encoder.embedding.embeddings.assign(take("src_emb.weight"))
    model.decoder.embedding.embeddings.assign(take("tgt_emb.weight"))
    for side, stack in (("encoder", model.encoder), ("decoder", model.decoder)):
        norm(stack.final_norm, f"transformer.{side}.norm")
        for i, block in enumerate(stack.blocks):
            prefix = f"transformer.{side}.layers.{i}"
            attention(block.self_attention, prefix + ".self_attn")
            norm(block.self_attention_norm, prefix + ".norm1")
            if side == "decoder":
                attention(block.cross_attention, prefix + ".multihead_attn")
                norm(block.cross_attention_norm, prefix + ".norm2")
            dense(block.feed_forward.hidden, prefix + ".linear1")
            dense(block.feed_forward.projection, prefix + ".linear2")
            norm(block.ff_norm, prefix + (".norm3" if side == "decoder" else ".norm2"))
    dense(model.output_projection, "generator")
    left = sorted(set(weights) - used - {"pos.pe"})
    if left:
        raise ValueError(f"PyTorch weights not copied: {left}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", required=True, help=".npz from dump_batches.py")
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", default="seed", help="run config (default: seed)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE")
    parser.add_argument("--factor", action="append", default=[], choices=sorted(FACTORS))
    parser.add_argument("--init-from", help="PyTorch initial weights (train_torch.py --save-init)")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads (0: TensorFlow's choice)")
    parser.add_argument("--out", required=True, help="CSV of update,loss")
    args = parser.parse_args()

    if args.threads:
        args.overrides.append(f"training.intra_op_threads={args.threads}")

    config = run_config.load(args.config, args.overrides)
    data = np.load(args.batches)
    src_vocab, tgt_vocab = (int(v) for v in data["vocab_sizes"])

    def batch(i):
        return ((data[f"source_{i}"], data[f"target_input_{i}"]), data[f"target_output_{i}"])

    _configure_threads(config.training)
    keras.utils.set_random_seed(args.seed)
    model = build_training_model(config, src_vocab, tgt_vocab)
    rng = np.random.default_rng(args.seed)
    factors = args.factor + (["final_norm"] if args.init_from else [])
    for name in dict.fromkeys(factors):
        FACTORS[name](model, rng)
    if args.init_from:
        load_torch_weights(model, args.init_from)
    compile_model(model, config)  # after final_norm: it creates the optimizer's slots
    (source, target_input), target_output = batch(0)
    initial = model.compute_loss(y=target_output, y_pred=model((source, target_input)))
    print(f"initial loss on batch 0 without dropout: {float(initial):.5f}", flush=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["update", "loss"])
        for i in range(args.updates):
            model.reset_metrics()
            logs = model.train_on_batch(*batch(i), return_dict=True)
            writer.writerow([i + 1, f"{logs['loss']:.5f}"])
            f.flush()


if __name__ == "__main__":
    main()
