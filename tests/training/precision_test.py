"""`training.mixed_precision: auto` picks float16 on a GPU, bfloat16 on a bf16 CPU."""

import pytest

from tf_transformer.training import config as run_config
from tf_transformer.training import precision

FLAGS = "flags\t\t: fpu vme sse sse2 avx2 avx512f {}\n"


@pytest.mark.parametrize("extra, expected", [
    ("avx512_bf16", True), ("amx_bf16 amx_tile", True), ("avx512vnni", False)])
def test_cpu_bf16_is_read_from_the_cpu_flags(tmp_path, extra, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\n" + FLAGS.format(extra))
    assert precision.cpu_has_bf16(str(cpuinfo)) is expected
    assert precision.cpu_has_bf16(str(tmp_path / "none")) is False


@pytest.mark.parametrize("gpus, bf16, expected", [
    (["GPU:0"], True, "mixed_float16"), ([], True, "mixed_bfloat16"), ([], False, "float32")])
def test_auto_resolves_per_machine(monkeypatch, gpus, bf16, expected):
    monkeypatch.setattr(precision.tf.config, "list_physical_devices",
                        lambda kind: gpus if kind == "GPU" else [])
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: bf16)
    assert precision.resolve("auto") == expected
    assert precision.resolve("float32") == "float32"


def test_best_config_uses_auto():
    assert run_config.load("best").training.mixed_precision == "auto"
