"""Signed checkpoints at 10^5 entries: tree build, checkpoint, proofs, verification.

* ``ledger_tree`` of a 10^5-entry ledger (chain verify + one leaf hash per entry + the complete
  subtrees): goal <= 5 s on 2 cores;
* checkpoint signing, an inclusion and a consistency proof from the built tree, and their
  offline checks: milliseconds each (O(log n): at most 2 log2(n) hashes per proof; the
  inclusion proof also opens the ledger to read its entry).

The ledger is bulk-created in one transaction with ``bench_ledger.bulk_create``. Run
``python benchmarks/bench_checkpoint.py`` (``--quick`` for 10^4 entries).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ledger import bulk_create

from validation.ledger.checkpoint import (
    ledger_tree,
    prove_consistency,
    prove_inclusion,
    read_checkpoint,
    sign_checkpoint,
)
from validation.ledger.note import generate_key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10^4 entries instead of 10^5")
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000
    key = generate_key("bench.example/log")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        bulk_create(path, n)
        began = time.perf_counter()
        tree = ledger_tree(path)
        built = time.perf_counter() - began
        began = time.perf_counter()
        note = sign_checkpoint(tree, key)
        checkpoint = read_checkpoint(note, [key.verifier])
        signed = time.perf_counter() - began
        began = time.perf_counter()
        inclusion = prove_inclusion(path, n // 3, tree=tree)
        inclusion.check(checkpoint)
        included = time.perf_counter() - began
        began = time.perf_counter()
        old = n // 2 + 1
        consistency = prove_consistency(path, old, n, tree=tree)
        ok = len(consistency.path) <= 2 * n.bit_length()
        consistent = time.perf_counter() - began
    print(f"entries: {n}")
    print(f"tree from ledger (verify + hash): {built:.2f} s (goal <= 5 s)")
    print(f"checkpoint sign + verify:        {signed * 1e3:.2f} ms")
    print(f"inclusion proof + check:         {included * 1e3:.2f} ms, {len(inclusion.path)} hashes")
    print(
        f"consistency proof {old}->{n}: {consistent * 1e3:.2f} ms, {len(consistency.path)} hashes"
    )
    return 0 if ok and built <= 5.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
