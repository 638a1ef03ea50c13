"""Training with `model.fit`: loss, metrics, optimizer, run config, callbacks, strategy.

`tf-transformer train` is `cli_train.py`; `trainer.train` does the work.
"""
