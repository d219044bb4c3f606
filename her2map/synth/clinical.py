"""Per-patient biology and the clinical table, without images (the generator's fast path).

Every patient's draws come from its own numpy stream seeded by ``(seed, stream, patient index)``,
so a patient's biology does not depend on the images, the worker count or the other patients, and
:func:`simulate_clinical` (no images) yields exactly the rows that :func:`her2map.synth.synth`
writes. Sites are allocated by largest remainder of the site weights and shuffled with a
cohort-level stream.

Clinical course: the whole tumor (surgical specimen) gives ``reference_*`` by ASCO/CAP; the core
biopsy gives ``biopsy_*``; neoadjuvant therapy follows the BIOPSY (anti-HER2 if biopsy positive);
pCR is drawn from the whole-tumor status, hormone-receptor status and the therapy given, so a
HER2-positive tumor missed by biopsy gets chemotherapy only and a lower pCR rate (Cortazar et al.,
Lancet 2014). Sources of every rate are in :mod:`her2map.synth.parameters`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from her2map.ingest.clinical import CLINICAL_COLUMNS  # the contract ingest reads
from her2map.synth.parameters import SynthParams
from her2map.synth.tumor import Tumor, asco_cap, core_biopsy, make_tumor

__all__ = [
    "CLINICAL_COLUMNS",
    "MODALITIES",
    "TRUTH_COLUMNS",
    "Patient",
    "assign_sites",
    "choose_modalities",
    "patient_id",
    "patient_rng",
    "simulate_clinical",
    "simulate_patient",
]

#: truth.csv columns, in order (INTERFACES.md).
TRUTH_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "her2_fraction_3plus",
    "her2_fraction_2plus",
    "mean_expression",
)
#: Modality groups a patient may have (MG = the CC + MLO pair).
MODALITIES: tuple[str, ...] = ("MG", "US", "MR")

STREAM_SITES = 0
STREAM_BIOLOGY = 1
STREAM_IMAGING = 2
STREAM_IDENTITY = 3
STREAM_MODALITIES = 4
_DENSITIES = ("a", "b", "c", "d")


def patient_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """The numpy Generator of one patient's ``stream`` (SeedSequence of ``[seed, stream, index]``)."""
    return np.random.default_rng([seed, stream, index])


def cohort_tag(seed: int) -> str:
    """Six upper-case hex digits of SHA-256 of the seed: the id prefix of one cohort.

    Cohorts of different seeds get disjoint patient ids, so the test-set firewall (which compares
    ids with the training manifest) can tell a validation cohort from the development cohort.
    """
    return hashlib.sha256(f"her2map-synth-cohort:{seed}".encode()).hexdigest()[:6].upper()


def patient_id(seed: int, index: int) -> str:
    """Pseudonymous, site-independent id of the ``index``-th patient (0-based) of a cohort.

    ``P<cohort tag>-<index + 1, six digits>``, e.g. ``P1A2B3C-000001``.
    """
    return f"P{cohort_tag(seed)}-{index + 1:06d}"


@dataclass(frozen=True)
class Patient:
    """One simulated patient: clinical row, truth row, tumor map and the anatomy drawn."""

    row: dict[str, object]
    truth: dict[str, object]
    tumor: Tumor
    density_index: int


def assign_sites(n_patients: int, seed: int, params: SynthParams) -> list[str]:
    """Site of every patient: largest-remainder allocation of the weights, shuffled by the seed."""
    weights = np.asarray([s.weight for s in params.sites], dtype=np.float64)
    quota = weights / weights.sum() * n_patients
    counts = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[: n_patients - int(counts.sum())]] += 1
    labels = np.repeat(np.asarray([s.site for s in params.sites]), counts)
    rng = np.random.default_rng([seed, STREAM_SITES])
    return [str(x) for x in rng.permutation(labels)]


def choose_modalities(seed: int, index: int, site: str, params: SynthParams) -> tuple[str, ...]:
    """Modality groups of one patient (subset of :data:`MODALITIES`, never empty)."""
    rng = patient_rng(seed, STREAM_MODALITIES, index)
    info = params.site(site)
    probs = np.asarray([info.p_mg, info.p_us, info.p_mr], dtype=np.float64)
    have = rng.random(3) < probs
    if not have.any():
        have[int(rng.choice(3, p=probs / probs.sum()))] = True
    return tuple(m for m, h in zip(MODALITIES, have, strict=True) if h)


def _pcr_probability(
    reference_her2: int, hr_status: int, therapy: str, f3: float, params: SynthParams
) -> float:
    bio = params.biology
    if reference_her2 and therapy == "anti-HER2":
        base = bio.pcr_pos_anti_her2[hr_status]
        # heterogeneous HER2+ tumors respond less (Filho et al., JCO 2021)
        shift = bio.pcr_homogeneity_logit * (f3 - bio.pcr_homogeneity_reference)
    elif reference_her2:
        base, shift = bio.pcr_pos_chemo[hr_status], 0.0
    else:
        base, shift = bio.pcr_neg[hr_status], 0.0
    logit = np.log(base / (1.0 - base)) + shift
    return float(1.0 / (1.0 + np.exp(-logit)))


def simulate_patient(seed: int, index: int, site: str, params: SynthParams) -> Patient:
    """Biology and clinical course of the ``index``-th patient of the cohort ``seed``."""
    bio = params.biology
    rng = patient_rng(seed, STREAM_BIOLOGY, index)
    tumor = make_tumor(rng, bio)
    reference = asco_cap(*tumor.cell_values(), bio)
    biopsy = asco_cap(*core_biopsy(rng, tumor, bio), bio)
    f3, f2, mean_expr = tumor.fractions(bio)
    p_hr = bio.p_hr_given_her2_pos if reference.positive else bio.p_hr_given_her2_neg
    hr_status = int(rng.random() < p_hr)
    therapy = "anti-HER2" if biopsy.positive else "chemotherapy"
    pcr = int(rng.random() < _pcr_probability(reference.positive, hr_status, therapy, f3, params))
    lo, hi = bio.age_range
    age = int(np.clip(np.rint(rng.normal(bio.age_mean, bio.age_sd)), lo, hi))
    density = int(rng.choice(4, p=np.asarray(bio.density_probs)))
    laterality = "L" if rng.random() < bio.p_left else "R"
    pid = patient_id(seed, index)
    row: dict[str, object] = {
        "patient_id": pid,
        "site": site,
        "manufacturer": params.site(site).manufacturer,
        "age": age,
        "density": _DENSITIES[density],
        "hr_status": hr_status,
        "laterality": laterality,
        "reference_ihc": reference.ihc,
        "reference_ish": reference.ish,
        "reference_her2": reference.positive,
        "her2_low": reference.low,
        "biopsy_ihc": biopsy.ihc,
        "biopsy_ish": biopsy.ish,
        "biopsy_her2": biopsy.positive,
        "therapy": therapy,
        "pcr": pcr,
    }
    truth: dict[str, object] = {
        "patient_id": pid,
        "her2_fraction_3plus": f3,
        "her2_fraction_2plus": f2,
        "mean_expression": mean_expr,
    }
    return Patient(row=row, truth=truth, tumor=tumor, density_index=density)


def simulate_clinical(
    n_patients: int, seed: int, params: SynthParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clinical and truth tables of a cohort without rendering images (same rows as ``synth``)."""
    sites = assign_sites(n_patients, seed, params)
    patients = [simulate_patient(seed, i, sites[i], params) for i in range(n_patients)]
    clinical = pd.DataFrame([p.row for p in patients], columns=list(CLINICAL_COLUMNS))
    truth = pd.DataFrame([p.truth for p in patients], columns=list(TRUTH_COLUMNS))
    return clinical, truth
