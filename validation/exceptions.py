"""Exceptions and warnings of the validation harness (one place, STYLE.md rule 5).

Messages name the argument, key path, file or ledger entry, say what was expected and what was
found, and what to do. The CLI prints them and exits with status 2, never a traceback.
"""

__all__ = [
    "DossierError",
    "HarnessError",
    "InvalidArgumentError",
    "LedgerError",
    "NotEstimableWarning",
    "ProtocolError",
    "RegistrationError",
    "ResultsError",
    "RunError",
    "SignatureError",
    "SubmissionError",
    "SuiteError",
    "TamperError",
    "TraceError",
    "TrialRuleError",
]


class HarnessError(Exception):
    """Base class of every error the harness raises deliberately."""


class InvalidArgumentError(HarnessError, ValueError):
    """A statistics function got a bad argument (names the parameter, what it must be, what it got)."""


class ProtocolError(HarnessError):
    """A protocol spec is malformed (names the key path and suggests the nearest valid key)."""


class RegistrationError(HarnessError):
    """A protocol is not registered, or changed since registration without an amendment."""


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
