"""The walls of DESIGN.md as import contracts (``.importlinter``, REQ-ARCH-001): they hold on
this tree, each fails when its wall is broken, and the stats contract names every part of the
harness (so a new package cannot slip past it)."""

from __future__ import annotations

import configparser
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import validation

pytestmark = pytest.mark.req("REQ-ARCH-001")

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"
CONTRACTS = {
    "core-never-imports-harness": (
        "her2map/_io.py",
        "import validation.canonical",
        "The core (her2map) never imports the harness (validation) BROKEN",
    ),
    "stats-imports-only-exceptions": (
        "validation/stats/_checks.py",
        "import validation.ledger",
        "validation.stats imports nothing of the project but validation.exceptions BROKEN",
    ),
    "ledger-imports-no-client": (
        "validation/ledger/chain.py",
        "import validation.trial",
        "The ledger imports none of its clients (protocol, runner, dossier, trial, ...) BROKEN",
    ),
    "dossier-imports-neither-runner-nor-stats": (
        "validation/dossier/render.py",
        "from validation.stats import auc",
        "The dossier imports neither the runner nor the statistics BROKEN",
    ),
    "runner-never-imports-dossier": (
        "validation/runner/flow.py",
        "import validation.dossier.render",
        "The runner renders nothing: it never imports the dossier BROKEN",
    ),
    "server-computes-nothing": (
        "validation/server/tokens.py",
        "import validation.stats",
        "The server computes nothing: no stats, runner or dossier BROKEN",
    ),
}


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    ignore = shutil.ignore_patterns("__pycache__", "*.pt", "*.json")
    for package in ("her2map", "validation"):
        shutil.copytree(ROOT / package, tree / package, ignore=ignore)
    shutil.copy(ROOT / ".importlinter", tree / ".importlinter")
    return tree


def test_the_walls_hold_on_this_tree(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


@pytest.mark.parametrize("contract", sorted(CONTRACTS))
def test_each_contract_fails_when_its_wall_is_broken(tmp_path: Path, contract: str) -> None:
    tree = _copy(tmp_path)
    module, line, broken = CONTRACTS[contract]
    with open(tree / module, "a", encoding="utf-8") as handle:
        handle.write(f"\n{line}  # breaks the wall on purpose\n")
    result = _lint(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in result.stdout
    assert f"Contracts: {len(CONTRACTS) - 1} kept, 1 broken." in result.stdout


def test_stats_contract_names_every_part_of_the_harness() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter", encoding="utf-8")
    forbidden = set(
        config["importlinter:contract:stats-imports-only-exceptions"]["forbidden_modules"].split()
    )
    parts = {f"validation.{m.name}" for m in pkgutil.iter_modules(validation.__path__)}
    assert forbidden == (parts - {"validation.stats", "validation.exceptions"}) | {"her2map"}


@pytest.mark.slow
def test_installed_wheel_renders_a_dossier(tmp_path: Path, runner_run: Any) -> None:
    """Build the wheel from a copy of the tree, install it into a fresh venv (its dependencies
    come from this venv's site-packages, the project itself only from the wheel) and build a
    dossier from outside any checkout: the templates and CSS ship as package data."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("her2map", "validation", "reports"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=ignore)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(src)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("her2map-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python*/site-packages")
    shutil.unpack_archive(wheel, site, format="zip")  # a pure wheel installs by unzipping
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
    (site / "deps.pth").write_text(f"{deps}\n")  # its .pth hooks (the editable install) stay off
    script = (
        "import validation, validation.dossier as d, sys\n"
        f"assert validation.__file__.startswith({str(site)!r}), validation.__file__\n"
        f"r = d.build_dossier({str(runner_run(0.95).results_path)!r}, "
        "'dossier')\n"
        "assert d.verify_dossier('dossier').ok\n"
        "print(r.seal)\n"
    )
    run = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script], cwd=tmp_path, capture_output=True,
        text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.strip()) == 64
    html = (tmp_path / "dossier" / "index.html").read_text(encoding="utf-8")
    assert (ROOT / "reports" / "dossier.css").read_text(encoding="utf-8")[:200] in html
