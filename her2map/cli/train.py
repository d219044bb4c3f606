"""``her2map train``: train on the development sites and write a locked model."""

from __future__ import annotations

import argparse
import shlex

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train the model on development sites A-C and lock it",
        description=(
            "Train on the development sites of a cohort, select the epoch and the decision "
            "threshold on a patient-disjoint validation split, and write weights, training "
            "manifest and lock file into --out."
        ),
    )
    parser.add_argument("--cohort", required=True, help="cohort folder (clinical.csv + DICOM)")
    parser.add_argument("--out", required=True, help="folder for weights, manifest and lock")
    parser.add_argument("--seed", type=int, default=None, help="training seed (default 20250101)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 25)")
    parser.add_argument(
        "--target",
        choices=("her2", "pcr"),
        default="her2",
        help="her2: P(HER2+) vs the surgical specimen (default); pcr: the patient-response model, "
        "P(pCR) from imaging + planned therapy, trained on neoadjuvant patients",
    )
    parser.add_argument(
        "--init-from",
        default=None,
        help="lock of a model whose encoders start the training (verified; its hash is recorded)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from her2map.lock import LockedModel
    from her2map.train import TrainConfig, train

    defaults = TrainConfig()
    seed = defaults.seed if args.seed is None else args.seed
    epochs = defaults.epochs if args.epochs is None else args.epochs
    command = shlex.join(
        [
            "her2map",
            "train",
            "--cohort",
            str(args.cohort),
            "--out",
            str(args.out),
            "--seed",
            str(seed),
            "--epochs",
            str(epochs),
            "--target",
            args.target,
            *([] if args.init_from is None else ["--init-from", str(args.init_from)]),
        ]
    )
    config = TrainConfig(seed=seed, epochs=epochs, target=args.target)
    init = None if args.init_from is None else LockedModel.load(args.init_from)
    result = train(args.cohort, args.out, config=config, init_from=init, commands=[command])
    print(
        f"trained on {result.n_train} patients, validated on {result.n_validation}; "
        f"selected epoch {result.selected_epoch} (validation AUC {result.validation_auc:.4f}); "
        f"threshold {result.threshold:.6f}; {result.seconds:.1f} s"
    )
    print(f"lock: {result.lock_path}")
    return 0
