"""Per-patient biology and the clinical table, without images (the generator's fast path).

Every patient's draws come from its own numpy stream seeded by ``(seed, stream, patient index)``,
so a patient's biology does not depend on the images, the worker count or the other patients, and
:func:`simulate_clinical` (no images) yields exactly the rows that :func:`her2map.synth.synth`
writes. Sites are allocated by largest remainder of the site weights and shuffled with a
cohort-level stream.

Clinical course (as in practice; sources of every rate in :mod:`her2map.synth.parameters`):

1. The core biopsy gives ``biopsy_*`` (ASCO/CAP on one needle core); it is the only HER2 result
   known before treatment.
2. The pathway follows the BIOPSY subtype: neoadjuvant therapy (``pathway`` ``neoadjuvant``) with
   probability :attr:`~her2map.synth.parameters.BiologyParams.p_nat` (mostly for HER2-positive and
   triple-negative biopsies), else upfront surgery (``upfront-surgery``).
3. Neoadjuvant therapy follows the BIOPSY call: anti-HER2 dual blockade if the biopsy is
   HER2-positive, chemotherapy otherwise. pCR (ypT0/is ypN0) is drawn from the TRUE whole-tumor
   status, hormone-receptor status and the therapy received, so a HER2-positive tumor missed by
   biopsy gets chemotherapy only and a lower pCR rate (Cortazar et al., Lancet 2014).
4. A surgical-specimen HER2 (``reference_*``) exists only where invasive tumour remains: after
   upfront surgery (the whole pretreatment tumour) or in residual tumour after NAT (with a small
   post-therapy conversion rate). After pCR it is EMPTY: there is nothing left to test.
   ``therapy`` and ``pcr`` are empty after upfront surgery (no neoadjuvant therapy, no response).

The TRUE pretreatment whole-tumour status always goes to ``truth.csv`` (never to clinical.csv).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from her2map.ingest.clinical import CLINICAL_COLUMNS  # the contract ingest reads
from her2map.synth.parameters import SiteParams, SynthParams
from her2map.synth.tumor import HER2Score, Tumor, asco_cap, core_biopsy, her2_category, make_tumor

__all__ = [
    "CLINICAL_COLUMNS",
    "MODALITIES",
    "NEOADJUVANT",
    "TRUTH_COLUMNS",
    "UPFRONT_SURGERY",
    "Patient",
    "assign_sites",
    "choose_modalities",
    "patient_id",
    "patient_rng",
    "simulate_clinical",
    "simulate_patient",
]

#: truth.csv columns, in order (docs/INTERFACES.md).
TRUTH_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "her2_fraction_3plus",
    "her2_fraction_2plus",
    "mean_expression",
    "true_her2",
    "true_category",
    "residual_conversion",
)
#: Modality groups a patient may have (MG = the CC + MLO pair).
MODALITIES: tuple[str, ...] = ("MG", "US", "MR")

STREAM_SITES = 0
STREAM_BIOLOGY = 1
STREAM_IMAGING = 2
STREAM_IDENTITY = 3
STREAM_MODALITIES = 4
STREAM_COURSE = 5
#: ``pathway`` values of clinical.csv.
UPFRONT_SURGERY = "upfront-surgery"
NEOADJUVANT = "neoadjuvant"
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
    """One simulated patient: clinical row, truth row, tumor map, anatomy, and the site as imaged
    (``site``: the site's parameters through the scanner this patient was imaged on)."""

    row: dict[str, object]
    truth: dict[str, object]
    tumor: Tumor
    density_index: int
    site: SiteParams


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


def _pathway(
    rng: np.random.Generator, biopsy: HER2Score, hr_status: int, params: SynthParams
) -> str:
    """Upfront surgery or NAT, by the BIOPSY subtype (HER2+, triple negative, HR+/HER2-)."""
    p_her2, p_tn, p_luminal = params.biology.p_nat
    p = p_her2 if biopsy.positive else (p_tn if hr_status == 0 else p_luminal)
    return NEOADJUVANT if rng.random() < p else UPFRONT_SURGERY


def _residual(
    rng: np.random.Generator, reference: HER2Score, therapy: str, params: SynthParams
) -> tuple[HER2Score, int]:
    """HER2 of the residual tumour after NAT: the pretreatment status, rarely converted."""
    bio = params.biology
    u = rng.random()
    if reference.positive and therapy == "anti-HER2" and u < bio.p_residual_her2_loss:
        return HER2Score("1+", "", 0, 1), 1
    if not reference.positive and u < bio.p_residual_her2_gain:
        return HER2Score("2+", "positive", 1, 0), 1
    return reference, 0


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
    u_pcr = rng.random()
    lo, hi = bio.age_range
    age = int(np.clip(np.rint(rng.normal(bio.age_mean, bio.age_sd)), lo, hi))
    density = int(rng.choice(4, p=np.asarray(bio.density_probs)))
    laterality = "L" if rng.random() < bio.p_left else "R"
    course = patient_rng(seed, STREAM_COURSE, index)
    info = params.site(site)
    if info.scanners:
        shares = np.asarray([share for _, share in info.scanners])
        info = info.with_scanner(info.scanners[int(course.choice(len(shares), p=shares))][0])
    race = bio.race_categories[
        int(course.choice(len(bio.race_probs), p=np.asarray(bio.race_probs)))
    ]
    pathway = _pathway(course, biopsy, hr_status, params)
    therapy, pcr, conversion = "", "", 0
    surgical: HER2Score | None = reference
    if pathway == NEOADJUVANT:
        therapy = "anti-HER2" if biopsy.positive else "chemotherapy"
        pcr_value = int(
            u_pcr < _pcr_probability(reference.positive, hr_status, therapy, f3, params)
        )
        pcr = str(pcr_value)
        surgical, conversion = (
            (None, 0) if pcr_value else _residual(course, reference, therapy, params)
        )
    pid = patient_id(seed, index)
    row: dict[str, object] = {
        "patient_id": pid,
        "site": site,
        "manufacturer": info.manufacturer,
        "age": age,
        "density": _DENSITIES[density],
        "race_ethnicity": race,
        "hr_status": hr_status,
        "laterality": laterality,
        "reference_ihc": "" if surgical is None else surgical.ihc,
        "reference_ish": "" if surgical is None else surgical.ish,
        "reference_her2": "" if surgical is None else surgical.positive,
        "her2_low": "" if surgical is None else surgical.low,
        "reference_category": "" if surgical is None else her2_category(surgical),
        "biopsy_ihc": biopsy.ihc,
        "biopsy_ish": biopsy.ish,
        "biopsy_her2": biopsy.positive,
        "pathway": pathway,
        "therapy": therapy,
        "pcr": pcr,
    }
    truth: dict[str, object] = {
        "patient_id": pid,
        "her2_fraction_3plus": f3,
        "her2_fraction_2plus": f2,
        "mean_expression": mean_expr,
        "true_her2": reference.positive,
        "true_category": her2_category(reference),
        "residual_conversion": conversion,
    }
    return Patient(row=row, truth=truth, tumor=tumor, density_index=density, site=info)


def simulate_clinical(
    n_patients: int, seed: int, params: SynthParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clinical and truth tables of a cohort without rendering images (same rows as ``synth``)."""
    sites = assign_sites(n_patients, seed, params)
    patients = [simulate_patient(seed, i, sites[i], params) for i in range(n_patients)]
    clinical = pd.DataFrame([p.row for p in patients], columns=list(CLINICAL_COLUMNS))
    truth = pd.DataFrame([p.truth for p in patients], columns=list(TRUTH_COLUMNS))
    return clinical, truth
