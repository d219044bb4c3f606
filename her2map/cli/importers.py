"""``her2map import duke|cmmd``: a public data set's layout -> a cohort folder."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``import`` subcommand with one action per data set."""
    parser = subparsers.add_parser(
        "import",
        help="import a public data set (TCIA Duke-Breast-Cancer-MRI, CMMD) as a cohort folder",
        description="Write a cohort folder (clinical.csv, dicom/, import_report.csv listing "
        "every source file) from a public data set's own layout.",
    )
    actions = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    for name, what in (
        ("duke", "Duke-Breast-Cancer-MRI: classic MR DCE series + Clinical_and_Other_Features"),
        ("cmmd", "CMMD: mammograms + CMMD_clinicaldata_revision (HER2 from subtype)"),
    ):
        action = actions.add_parser(name, help=what, description=what)
        action.add_argument("--images", required=True, help="the data set's image folder")
        action.add_argument(
            "--clinical", required=True, help="its clinical spreadsheet (.xlsx/.csv)"
        )
        action.add_argument("--out", required=True, help="cohort folder to create")
        action.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from her2map.importers import import_cmmd, import_duke

    run = import_duke if args.dataset == "duke" else import_cmmd
    out = run(args.images, args.clinical, args.out)
    with open(out / "clinical.csv", encoding="utf-8") as handle:
        patients = sum(1 for _ in handle) - 1
    with open(out / "import_report.csv", encoding="utf-8") as handle:
        lines = handle.read().splitlines()[1:]
    used = sum(1 for line in lines if line.endswith(",used"))
    print(
        f"imported {patients} patient(s), {used} file(s) to {out}; "
        f"{len(lines) - used} item(s) not used, each with its reason in {out / 'import_report.csv'}"
    )
    return 0
