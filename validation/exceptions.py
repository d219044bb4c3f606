"""Exceptions and warnings of the validation harness (one place, STYLE.md rule 5).

Messages name the argument, key path, file or ledger entry, say what was expected and what was
found, and what to do. The CLI prints them and exits with the class's ``exit_code``, never a
traceback. Exit codes of every ``her2map`` command (:data:`EXIT_CODES`): 0 ok; 1 a check failed
(verify found a problem, status not runnable); 2 usage or bad input (argparse errors, malformed
files, unusable paths); 3 refused by a rule (not registered, test-set firewall, lock mismatch, a
trial rule, an output folder that already holds a run); 130 interrupted (Ctrl-C); 141 the reader
closed the pipe.
"""

__all__ = [
    "EXIT_CODES",
    "DossierError",
    "HarnessError",
    "InvalidArgumentError",
    "LedgerError",
    "NotEstimableWarning",
    "OutputError",
    "OutputExistsError",
    "ProtocolError",
    "RegistrationError",
    "ResultsError",
    "RunError",
    "SignatureError",
    "SubmissionError",
    "SuiteError",
    "TamperError",
    "TraceError",
    "TrialInputError",
    "TrialRuleError",
]


#: Exit status of the ``her2map`` command by outcome (the CLI's contract; README "Exit codes").
EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "check failed": 1,
    "usage or bad input": 2,
    "refused by a rule": 3,
    "interrupted": 130,
    "pipe closed": 141,
}


class HarnessError(Exception):
    """Base class of every error the harness raises deliberately (exit status 2: bad input)."""

    exit_code: int = EXIT_CODES["usage or bad input"]


class InvalidArgumentError(HarnessError, ValueError):
    """A statistics function got a bad argument (names the parameter, what it must be, what it got)."""


class ProtocolError(HarnessError):
    """A protocol spec is malformed (names the key path and suggests the nearest valid key)."""


class RegistrationError(HarnessError):
    """A protocol is not registered, or changed since registration without an amendment."""

    exit_code = EXIT_CODES["refused by a rule"]


class RunError(HarnessError):
    """A validation run cannot proceed (bad predictions/labels table, firewall, population)."""


class SuiteError(HarnessError):
    """A protocol suite spec is malformed, or a protocol it pins differs from its pinned hash."""


class LedgerError(HarnessError):
    """The audit ledger cannot be opened or appended to."""


class TamperError(LedgerError):
    """The ledger's hash chain does not verify (names the first bad entry)."""


class TrialRuleError(HarnessError):
    """A prospective-trial event violates the trial's order, site or correction rules.

    ``rule`` is the rule id (e.g. ``"OWN-SITE"``) when one rule decided the refusal.
    """

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule

    exit_code = EXIT_CODES["refused by a rule"]


class TrialInputError(TrialRuleError):
    """A trial import file is malformed (names file, line and column): bad input, exit status 2,
    not a rule's refusal; still a TrialRuleError for callers that catch those."""

    exit_code = EXIT_CODES["usage or bad input"]


class OutputError(HarnessError):
    """An output path is unusable (a file where a folder goes, no permission, not UTF-8); checked
    before any work starts."""


class OutputExistsError(OutputError):
    """The output folder already holds a run (or another run into it is in progress): nothing is
    ever overwritten in place."""

    exit_code = EXIT_CODES["refused by a rule"]


class DossierError(HarnessError):
    """A dossier cannot be built, or does not verify / reproduce."""


class ResultsError(HarnessError):
    """A results.json does not conform to the typed results contract (``her2map.results/2``)."""


class TraceError(HarnessError):
    """traceability.yaml is malformed or has gaps."""


class NotEstimableWarning(UserWarning):
    """A statistic was not estimable for the data given; the result carries the reason."""


class SignatureError(HarnessError):
    """A key, signed note, checkpoint or e-signature is malformed or does not verify."""


class SubmissionError(HarnessError):
    """A submission package cannot be built (a dossier does not verify or is not recorded)."""
