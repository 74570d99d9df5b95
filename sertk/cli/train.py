"""Train one model: a final model on all data (default), or one fold of a protocol.

The recipe comes from a YAML/TOML file of flat keys or sections (--config, e.g.
configs/paper.yaml), then --set KEY=VALUE overrides, then the flags below; unknown keys are
errors. The resolved recipe is saved as OUT/config.yaml and OUT/config.json.

Without --fold the model trains on a stratified split of the whole manifest (val_fraction
held out for model selection, no test part; a recipe's protocol is ignored) and lands in
OUT/checkpoint/, ready for `sertk predict`. With --fold K (from 0) it trains fold K of
--protocol exactly as `sertk cv --fold K` does, test predictions and metrics included.

Re-running the same command resumes an interrupted run from its last epoch.

Fine-tuning: --init-from CKPT (a checkpoint directory, or `emodb` for the bundled model)
starts from that model's weights instead of a random initialisation. The recipe must build
the same network on the same front-end (model, model_args, padding, max_seconds,
normalisation; otherwise a one-line error names the field). The same labels keep the
checkpoint's classifier head; other labels get a new head (a notice says so). --freeze front
keeps the 3-Conv front-end and the residual-BLSTM blocks fixed; --freeze N the first N blocks
(3-Conv, residual-BLSTM, transformer, in that order). Both work with every protocol and
`sertk cv`.

examples:
  sertk train --manifest emodb.csv --out models/emodb --model proposed
  sertk train --config configs/paper.yaml --manifest emodb.csv --protocol lospk --fold 3 -o runs/x
  sertk train --manifest mine.csv --init-from emodb --padding batch --freeze front -o models/mine
"""
from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from sertk.train.config import TrainConfig

# flag -> TrainConfig field, for the commonest keys (everything else via --set)
FLAGS = {
    "manifest": ("--manifest", str, "manifest CSV/JSONL from `sertk prepare`"),
    "model": ("--model", str, "model name (sertk models): proposed, base1..base7"),
    "protocol": ("--protocol", str, "kfold, loso, lospk (or final: no test part)"),
    "fold": ("--fold", int, "run only this fold (index from 0, as fold-00)"),
    "max_epochs": ("--epochs", int, "maximum epochs (default 100)"),
    "seed": ("--seed", int, "random seed (default 0)"),
    "batch_size": ("--batch-size", int, "batch size per process (default 32)"),
    "lr": ("--lr", float, "learning rate (default 1e-4)"),
    "padding": ("--padding", str, "fixed (pad to 4 s, the paper) or batch"),
    "accelerator": ("--accelerator", str, "Lightning accelerator: auto, cpu, gpu, ..."),
    "devices": ("--devices", str, "Lightning devices per node (e.g. 1, 4, auto)"),
    "num_nodes": ("--num-nodes", int, "nodes for multi-node DDP"),
    "strategy": ("--strategy", str, "Lightning strategy: auto, ddp, ..."),
    "precision": ("--precision", str, "32-true, 16-mixed, bf16-mixed"),
    "num_threads": ("--threads", int, "torch CPU threads (default: what the run directory "
                                        "recorded, else torch's; saved with the run)"),
    "init_from": ("--init-from", str, "fine-tune: start from this checkpoint directory or "
                                      "bundled model (emodb)"),
    "freeze": ("--freeze", str, "with --init-from: 'front' (3-Conv + residual-BLSTM) or N "
                                "(the first N blocks) stay fixed"),
    "cache_dir": ("--cache-dir", str,
                  "feature cache (default $SERTK_CACHE or ~/.cache/sertk/features)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def add_config_arguments(parser: argparse.ArgumentParser, *, extra: dict | None = None,
                         exclude: tuple[str, ...] = ()) -> None:
    """The options shared by ``train``, ``cv``, ``ablate`` and ``study`` (less ``exclude``)."""
    parser.add_argument("-o", "--out", required=True, help="output (run) directory")
    parser.add_argument("-c", "--config", help="recipe file (.yaml/.yml/.toml/.json)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a recipe key (repeatable), e.g. --set spec_augment=true "
                             "--set optim.lr=1e-3 --set model_args.hidden=64")
    for key, (flag, kind, text) in {**FLAGS, **(extra or {})}.items():
        if key not in exclude:
            parser.add_argument(flag, dest=key, type=kind, default=None, help=text)
    parser.add_argument("--no-progress", dest="progress_bar", action="store_const", const=False,
                        default=None, help="no progress bars")


def config_from_args(args: argparse.Namespace, extra: dict | None = None) -> TrainConfig:
    """Resolve ``--config``, ``--set`` and the flags into a :class:`TrainConfig`."""
    from sertk.devices import check_training_devices
    from sertk.train.config import ConfigError, resolve_config

    config = resolve_config(args.config, args.overrides, **flag_values(args, extra))
    if not config.data.manifest:
        raise ConfigError("no manifest: pass --manifest FILE (a CSV from `sertk prepare`) "
                          "or set `manifest:` in the config file")
    # before any run directory is written
    check_training_devices(config.runtime.accelerator, config.runtime.devices)
    return config


def flag_values(args: argparse.Namespace, extra: dict | None = None) -> dict:
    """The recipe keys the flags give (None: not given), progress bars off with --quiet."""
    values = {key: getattr(args, key, None) for key in {**FLAGS, **(extra or {})}}
    values["progress_bar"] = False if getattr(args, "verbosity", 0) < 0 else args.progress_bar
    return values


def run(args: argparse.Namespace) -> int:
    from sertk.classical import is_classical
    from sertk.data.manifest import read_manifest
    from sertk.train import cross_validate, fit
    from sertk.train.config import ConfigError
    from sertk.train.cv import fit_classical
    from sertk.train.fitting import is_global_zero

    config = config_from_args(args)
    if config.protocol.fold is None:  # a final model; a recipe file's protocol does not apply
        if args.protocol not in (None, "final"):
            raise ConfigError(f"`sertk train` runs one split: add --fold K to train one "
                              f"fold of {args.protocol}, or use `sertk cv` for all folds")
        config = config.replace(protocol="final")
    utterances = read_manifest(config.data.manifest)
    if config.protocol.name == "final" and is_classical(config.model.name):
        print(json.dumps(fit_classical(config, utterances, args.out), indent=2))
        return 0
    if config.protocol.name == "final":
        result = fit(config, utterances, out_dir=args.out)
        if is_global_zero():
            print(json.dumps(result.to_dict(), indent=2))
            print(f"model: {result.checkpoint}")
        return 0
    cross_validate(config, utterances, args.out)
    if is_global_zero():
        print(f"fold {config.protocol.fold} done: {args.out}/fold-{config.protocol.fold:02d}")
    return 0
