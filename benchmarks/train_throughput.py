"""Training throughput of the seed preset on the ../shared/bench workload (not a test).

Runs exactly what `tf-transformer train` runs per batch (our `Transformer`, the
seed's masked cross-entropy, masked accuracy and perplexity, Adam(5e-4, 0.9,
0.98, 1e-9), `model.train_on_batch`) on the cached Multi30k batches of
../shared/bench/bench_common.py, under its rules: 2 intra-op / 1 inter-op
threads, seed 1234, a warm-up covering every batch shape, then 24 timed steps.
Prints one JSON line with the keys of ../shared/bench/train_tf.py
(`tgt_tok_per_s`, `pairs_per_s`, `median_step_s`, ...).

    python benchmarks/train_throughput.py            # float32, TF graph + oneDNN
    python benchmarks/train_throughput.py --bf16     # mixed_bfloat16
    python benchmarks/train_throughput.py --jit      # XLA (add --bf16 for both)

The bench folder is found at ../shared/bench from the repository root, or at
$BENCH_DIR.
"""

import argparse
import time
import traceback

import bench_env  # noqa: F401, E402  (paths and environment; first)
import bench_common as bc  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_transformer.training.config import RunConfig, from_dict  # noqa: E402
from tf_transformer.training.trainer import build_training_model, compile_model  # noqa: E402


def param_counts(model):
    """Parameter counts in the form ../shared/bench/collect.py expects."""
    d_model = model.config.d_model
    total = int(model.count_params())
    src_embed = model.config.src_vocab_size * d_model
    embed = src_embed + model.config.tgt_vocab_size * d_model
    return dict(params=total, params_nonembed=total - embed,
                params_encoder=int(model.encoder.count_params()) - src_embed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jit", action="store_true", help="XLA-compile the train step")
    parser.add_argument("--bf16", action="store_true", help="mixed_bfloat16 policy")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=24)
    args = parser.parse_args()

    tf.config.threading.set_intra_op_parallelism_threads(bc.THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(bc.INTEROP)
    config = from_dict({"training": {
        "seed": bc.SEED, "jit_compile": args.jit,
        "mixed_precision": "mixed_bfloat16" if args.bf16 else "float32"}})
    assert config.optimizer == RunConfig().optimizer  # the seed's Adam
    keras.utils.set_random_seed(bc.SEED)
    keras.mixed_precision.set_global_policy(config.training.mixed_precision)

    name = "tf_transformer" + ("_xla" if args.jit else "") + ("_bf16" if args.bf16 else "")
    result = dict(script="train_throughput", variant=name,
                  framework=f"tensorflow {tf.__version__} keras {keras.__version__}")
    workload = bc.load_workload()
    model = build_training_model(config, bc.SRC_VOCAB, bc.TGT_VOCAB)
    result.update(param_counts(model))
    compile_model(model, config)

    def step(i):
        src, tgt = workload["train"][i]
        return float(model.train_on_batch((src, tgt[:, :-1]), tgt[:, 1:])[0])

    warm, timed = bc.step_schedule(len(workload["train"]), args.warmup, args.steps)
    try:
        start = time.perf_counter()
        for i in warm:
            step(i)
        result["warmup_s"] = round(time.perf_counter() - start, 1)
        times, tokens, pairs, flops = [], [], [], 0.0
        enc_frac = result["params_encoder"] / result["params_nonembed"]
        for i in timed:
            start = time.perf_counter()
            loss = step(i)
            times.append(time.perf_counter() - start)
            src, tgt = workload["train"][i]
            tokens.append(bc.target_tokens(tgt))
            pairs.append(src.shape[0])
            flops += bc.model_flops_per_step(result["params_nonembed"], bc.source_tokens(src),
                                             tokens[-1], enc_frac)
        result.update(bc.summarize_steps(times, tokens, pairs))
        result["final_loss"] = round(loss, 3)
        result["gflops_6PT"] = round(6 * result["params"] * sum(tokens) / sum(times) / 1e9, 1)
        result["gflops_refined"] = round(flops / sum(times) / 1e9, 1)
    except Exception as error:  # report the failure in the JSON line, like the anchors
        traceback.print_exc()
        result["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    bc.emit(result)


if __name__ == "__main__":
    main()
