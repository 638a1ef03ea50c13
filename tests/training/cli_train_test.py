from tf_transformer import cli


def test_an_os_error_in_train_is_one_line_and_status_2(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    run_dir = tmp_path / "file" / "run"
    assert cli.main(["train", "--set", "training.epochs=1", "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err == f"tf-transformer: error: {run_dir}: Not a directory\n"
