"""`training.mixed_precision: auto`: the fastest Keras dtype policy of this machine.

- a GPU: `mixed_float16` (tensor cores; Keras' `compile` wraps the optimizer in a
  `LossScaleOptimizer`, as float16 gradients need loss scaling);
- else a CPU with bfloat16 instructions (AVX-512 BF16 or AMX, read from
  /proc/cpuinfo): `mixed_bfloat16` (1.15-1.3x the float32 tokens/s, docs/performance.md);
- else `float32`.
"""

import tensorflow as tf

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bf16(cpuinfo_path: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU flags list bfloat16 instructions (False where there is no cpuinfo)."""
    try:
        with open(cpuinfo_path, encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return False
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def resolve(policy: str) -> str:
    """`policy` itself, or for "auto" the policy that suits this machine (see above)."""
    if policy != "auto":
        return policy
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bf16() else "float32"
