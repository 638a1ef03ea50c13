import pytest
import yaml

from tf_transformer.training import config as run_config
from tf_transformer.training.config import ConfigError, RunConfig


def test_seed_yaml_lists_every_field_with_its_default():
    text = (run_config.importlib.resources.files("tf_transformer") / "configs" / "seed.yaml")
    values = yaml.safe_load(text.read_text())
    defaults = RunConfig().to_dict()
    assert {s: sorted(v) for s, v in values.items()} == {s: sorted(v) for s, v in defaults.items()}
    # The documented differences: the seed lowercases (the default is cased) and
    # initializes query/key/value and nn.Linear's layers as PyTorch does (docs/parity.md).
    assert run_config.load("seed") == run_config.from_dict(
        {"data": {"lowercase": True},
         "model": {"qkv_init_scale": 0.5, "linear_init": "pytorch"}})


def test_seed_config_is_the_seed_recipe():
    config = run_config.load("seed")
    assert config.model.preset == "seed"
    assert config.model.overrides() == {"qkv_init_scale": 0.5, "linear_init": "pytorch"}
    optimizer = config.optimizer
    assert (optimizer.name, optimizer.learning_rate, optimizer.beta_1, optimizer.beta_2,
            optimizer.epsilon, optimizer.schedule) == ("adam", 5e-4, 0.9, 0.98, 1e-9, "constant")
    assert config.training.label_smoothing == 0.0
    assert config.data.lowercase and config.data.batch_size == 128 and not config.data.max_tokens


def test_shipped_configs_load_and_best_differs_from_seed():
    assert {"seed", "best"} <= set(run_config.shipped_configs())
    best = run_config.load("best")
    assert best.training.label_smoothing > 0 and best.optimizer.schedule == "inverse_sqrt"
    assert best.model.preset == "seed"  # same architecture, better recipe


def test_overrides_are_typed_and_applied(tmp_path):
    config = run_config.load("seed", [
        "training.epochs=3", "optimizer.learning_rate=1e-3", "model.tie_embeddings=true",
        "optimizer.clip_global_norm=1", "data.data_dir=/some/where", "training.steps_per_epoch=null",
    ])
    assert config.training.epochs == 3
    assert config.optimizer.learning_rate == 1e-3  # "1e-3" is a string to PyYAML
    assert config.optimizer.clip_global_norm == 1.0 and isinstance(config.optimizer.clip_global_norm, float)
    assert config.model.overrides() == {"tie_embeddings": True, "qkv_init_scale": 0.5,
                                        "linear_init": "pytorch"}
    assert config.data.data_dir == "/some/where"
    path = tmp_path / "run.yaml"
    run_config.dump(config, str(path))
    assert run_config.load(str(path)) == config


def test_partial_file_keeps_defaults(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("training:\n  epochs: 2\noptimizer:\n  epsilon: 1e-8\n")
    config = run_config.load(str(path))
    assert config.training.epochs == 2 and config.optimizer.epsilon == 1e-8
    assert config.model == RunConfig().model


@pytest.mark.parametrize("assignment, message", [
    ("training.epoch=3", "Unknown config key training.epoch; valid keys of 'training': "
                         "\\['distribution', 'epochs'"),
    ("trainin.epochs=3", "Unknown config section 'trainin'.*valid sections: "
                         "\\['callbacks', 'data', 'decoding', 'model', 'optimizer', 'training'\\]"),
    ("training.mixed_precision=bf16",
     "training.mixed_precision must be one of "
     "\\['auto', 'float32', 'mixed_bfloat16', 'mixed_float16'\\], "
     "got 'bf16'"),
    ("training.epochs=ten", "training.epochs must be int, got 'ten'"),
    ("training.epochs=2.5", "training.epochs must be int, got 2.5"),
    ("training.jit_compile=1", "training.jit_compile must be bool, got 1"),
    ("optimizer.clip_global_norm=x", "optimizer.clip_global_norm must be float or null, got 'x'"),
    ("training.epochs=0", "training.epochs must be > 0, got 0"),
    ("training.label_smoothing=1.5", "training.label_smoothing must be in \\[0, 1\\), got 1.5"),
    ("model.preset=huge", "model.preset: 'huge' is not one of \\['base', 'seed', 'tiny'\\]"),
    ("optimizer.weight_decay=0.01", "optimizer.weight_decay=0.01 needs optimizer.name=adamw"),
    ("callbacks.final_weights=average", "needs callbacks.average_last >= 2"),
    ("callbacks.monitor=val_bleu", "needs callbacks.bleu_every_epochs >= 1"),
    ("epochs=3", "--set expects section.key=value"),
    ("model.dropout=1.5", "model.dropout must be in \\[0, 1\\), got 1.5"),
    ("model.dropout=-0.1", "model.dropout must be in \\[0, 1\\), got -0.1"),
    ("model.num_heads=0", "model.num_heads must be > 0, got 0"),
    ("model.d_model=0", "model.d_model must be > 0, got 0"),
    ("model.num_encoder_layers=0", "model.num_encoder_layers must be > 0, got 0"),
    ("model.num_decoder_layers=-1", "model.num_decoder_layers must be > 0, got -1"),
    ("model.ff_dim=0", "model.ff_dim must be > 0, got 0"),
    ("model.max_length=0", "model.max_length must be > 0, got 0"),
    ("model.d_model=100", "model: d_model must be a positive multiple of num_heads, got "
                          "d_model=100 and num_heads=8. \\(the preset's values unless set\\)"),
    ("model.num_heads=6", "got d_model=256 and num_heads=6"),
    ("model.layer_norm_epsilon=0", "model.layer_norm_epsilon must be > 0, got 0"),
    ("model.qkv_init_scale=0", "model.qkv_init_scale must be > 0, got 0"),
    ("model.linear_init=torch",
     "model.linear_init must be one of \\['keras', 'pytorch'\\] or null, got 'torch'"),
    ("data.max_length=257", "data.max_length \\(257\\) must be <= .*model.max_length \\(256"),
    ("model.max_length=100", "data.max_length \\(128\\) must be <= .*model.max_length \\(100"),
    ("data.max_length=0", "data.max_length must be > 0, got 0"),
    ("data.batch_size=0", "data.batch_size must be > 0, got 0"),
    ("data.vocab_size=-5", "data.vocab_size must be > 0, got -5"),
    ("data.max_tokens=-1", "data.max_tokens must be >= 0, got -1"),
    ("optimizer.learning_rate=0", "optimizer.learning_rate must be > 0, got 0"),
    ("optimizer.beta_2=1.0", "optimizer.beta_2 must be in \\[0, 1\\), got 1.0"),
    ("optimizer.epsilon=0", "optimizer.epsilon must be > 0, got 0"),
    ("optimizer.warmup_steps=0", "optimizer.warmup_steps must be > 0, got 0"),
    ("optimizer.clip_global_norm=0", "optimizer.clip_global_norm must be > 0, got 0"),
    ("training.steps_per_epoch=0", "training.steps_per_epoch must be > 0, got 0"),
    ("training.seed=-1", "training.seed must be in \\[0, 2\\*\\*32\\), got -1"),
    ("callbacks.backup_every_steps=-1", "callbacks.backup_every_steps must be >= 0, got -1"),
    ("decoding.beam_size=0", "decoding.beam_size must be > 0, got 0"),
    ("decoding.alpha=-0.5", "decoding.alpha must be >= 0, got -0.5"),
    ("decoding.ensemble_mode=log",
     "decoding.ensemble_mode must be one of \\['linear', 'log_linear'\\], got 'log'"),
])
def test_bad_values_name_the_key_and_the_choices(assignment, message):
    with pytest.raises(ConfigError, match=message):
        run_config.load("seed", [assignment])


def test_unknown_config_name_lists_shipped_ones():
    with pytest.raises(ConfigError, match="No config file 'sed'; give a YAML path or one of .*'seed'"):
        run_config.load("sed")


def test_split_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "run.yaml").write_text(
        "data:\n  source: files\n  source_language: en\n  target_language: pt\n"
        "  splits:\n    train: corpus/train.tsv\n    validation: [v.en, /abs/v.pt]\n"
        "    test: '*.tsv'\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    config = run_config.load("configs/run.yaml")
    assert config.data.splits == {
        "train": str(folder / "corpus" / "train.tsv"),
        "validation": [str(folder / "v.en"), "/abs/v.pt"],
        "test": str(folder / "*.tsv")}
    # Written into a run and read back from there, the paths stay the same.
    run_config.dump(config, str(tmp_path / "config.yaml"))
    assert run_config.load(str(tmp_path / "config.yaml")) == config
    # Overrides are relative to the current folder.
    overridden = run_config.load("configs/run.yaml", ["data.splits={train: t.tsv, validation: v}"])
    assert overridden.data.splits == {"train": str(tmp_path / "t.tsv"),
                                      "validation": str(tmp_path / "v")}


def test_data_source_must_be_known():
    with pytest.raises(ConfigError, match="data.source must be multi30k, files or tfds"):
        run_config.from_dict({"data": {"source": "tfds:"}})
    assert run_config.from_dict({"data": {"source": "tfds:wmt14_translate/de-en"}}).data.source


@pytest.mark.parametrize("assignment", ["model.dropout=1.5", "model.num_heads=0",
                                        "data.max_length=1000"])
def test_the_train_command_stops_a_bad_config_with_one_line_and_status_2(assignment, capsys,
                                                                          tmp_path):
    from tf_transformer import cli

    assert cli.main(["train", "--set", assignment, "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tf-transformer: error: ") and err.count("\n") == 1 and assignment.split("=")[0] in err
    assert not (tmp_path / "run").exists()
