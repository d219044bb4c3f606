"""Benchmark: time to synthesise the virtual cohort at paper scale (6,991 patients).

Run ``python benchmarks/bench_synth.py`` (paper scale) or ``--quick`` (300 patients). Prints wall
time, DICOM file count and files per second, with the worker count. The issue's target is paper
scale (about 14,500 files) in at most 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from her2map.synth import synth

PAPER_PATIENTS = 6991


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 patients instead of 6,991")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=20240501)
    args = parser.parse_args()
    patients = 300 if args.quick else PAPER_PATIENTS
    root = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    try:
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        summary = synth(root / "cohort", patients=patients, seed=args.seed, workers=args.workers)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_before
        size = sum(f.stat().st_size for f in (root / "cohort").rglob("*") if f.is_file())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"patients          {summary.n_patients}")
    print(f"workers           {args.workers}")
    print(f"DICOM files       {summary.n_images} ({summary.n_images / patients:.3f} per patient)")
    print(f"wall time         {seconds:.1f} s (target <= 120 s at paper scale on 2 cores)")
    print(
        f"CPU time          {cpu:.1f} s user+sys, all processes ({cpu / args.workers:.1f} s per worker;"
    )
    print("                  wall >> CPU / workers means the cores were shared with other work)")
    print(f"files per second  {summary.n_images / seconds:.0f}")
    print(f"patients / second {patients / seconds:.0f}")
    print(f"output size       {size / 2**20:.1f} MiB")
    print(f"sites             {summary.site_counts}")
    print(f"modalities        {summary.modality_counts}")
    if not args.quick:
        print(f"time / target     {seconds / 120.0:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
