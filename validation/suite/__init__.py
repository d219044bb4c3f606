"""Protocol suites: several registered protocols run together on one prediction pass, with the
sealed dossiers, a sealed summary, a JUnit report and a gate a CI job acts on.

>>> from validation.suite import Suite, run_suite, verify_suite
>>> suite = Suite.from_yaml("suites/HER2-SUITE-RETRO.yaml")        # doctest: +SKIP
>>> run = run_suite("suites/HER2-SUITE-RETRO.yaml", ledger="ledger.db",  # doctest: +SKIP
...                 root="runs/demo")
>>> run.exit_status, print(verify_suite(run.summary_dir))          # doctest: +SKIP

:mod:`.model` and :mod:`.loader` hold the spec; :mod:`.registration` its ledger registration;
:mod:`.pins` the checks before anything runs; :mod:`.run` the order of operations;
:mod:`.outcome` the one adapter that reads a protocol's results; :mod:`.gate`, :mod:`.junit`,
:mod:`.summary`, :mod:`.page` and :mod:`.seal` what a run writes; :mod:`.recheck` whether a sealed
summary says what its dossiers say.
"""

from validation.suite.gate import GateCheck, GateResult, evaluate_gate
from validation.suite.junit import junit_xml
from validation.suite.loader import load_suite, suite_from_dict
from validation.suite.model import SHIPPED_LOCK, Gate, GatePolicy, ProtocolRef, Suite, SuiteData
from validation.suite.outcome import Analysis, ProtocolOutcome, read_outcome
from validation.suite.pins import PinnedProtocol, criterion_ids, require_ready, resolve_protocols
from validation.suite.registration import (
    SUITE_KIND,
    amend_suite,
    register_suite,
    require_suite_registered,
    suite_status,
)
from validation.suite.run import SUITE_RUN_EVENT, SuiteRun, run_suite
from validation.suite.seal import SUMMARY_DIR, suite_seal, verify_suite
from validation.suite.summary import SUMMARY_FORMAT, SUMMARY_SCHEMA, ProtocolRun, check_summary

__all__ = [
    "SHIPPED_LOCK",
    "SUITE_KIND",
    "SUITE_RUN_EVENT",
    "SUMMARY_DIR",
    "SUMMARY_FORMAT",
    "SUMMARY_SCHEMA",
    "Analysis",
    "Gate",
    "GateCheck",
    "GatePolicy",
    "GateResult",
    "PinnedProtocol",
    "ProtocolOutcome",
    "ProtocolRef",
    "ProtocolRun",
    "Suite",
    "SuiteData",
    "SuiteRun",
    "amend_suite",
    "check_summary",
    "criterion_ids",
    "evaluate_gate",
    "junit_xml",
    "load_suite",
    "read_outcome",
    "register_suite",
    "require_ready",
    "require_suite_registered",
    "resolve_protocols",
    "run_suite",
    "suite_from_dict",
    "suite_seal",
    "suite_status",
    "verify_suite",
]
