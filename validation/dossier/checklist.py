"""Which reporting-guideline items each dossier section answers (STARD 2015, TRIPOD+AI).

STARD 2015: Bossuyt et al., BMJ 2015;351:h5527 (30 items). TRIPOD+AI: Collins et al., BMJ
2024;385:e078378 (27 items with sub-items). Titles are short paraphrases for the map; the
published checklists are the authority. Items the dossier cannot answer (title, abstract,
funding, limitations, ...) belong to the study report around it and are listed as such.
"""

from __future__ import annotations

from validation.dossier.tables import Table, make_table

__all__ = ["SECTION_ITEMS", "STARD_2015", "TRIPOD_AI", "checklist_table", "uncovered_items"]

STARD_2015: dict[str, str] = {
    "1": "Identification as a study of diagnostic accuracy",
    "2": "Structured abstract",
    "3": "Scientific and clinical background, intended use",
    "4": "Study objectives and hypotheses",
    "5": "Prospective or retrospective data collection",
    "6": "Eligibility criteria",
    "7": "Basis on which potentially eligible participants were identified",
    "8": "Where and when participants were identified",
    "9": "Consecutive, random or convenience series",
    "10a": "Index test in sufficient detail to allow replication",
    "10b": "Reference standard in sufficient detail to allow replication",
    "11": "Rationale for choosing the reference standard",
    "12a": "Definition and rationale of index test positivity cut-offs",
    "12b": "Definition and rationale of reference standard positivity cut-offs",
    "13a": "Information available to performers/readers of the index test",
    "13b": "Information available to assessors of the reference standard",
    "14": "Methods for estimating or comparing measures of diagnostic accuracy",
    "15": "Handling of indeterminate results",
    "16": "Handling of missing data",
    "17": "Analyses of variability in diagnostic accuracy",
    "18": "Intended sample size and how it was determined",
    "19": "Flow of participants, using a diagram",
    "20": "Baseline demographic and clinical characteristics",
    "21a": "Distribution of severity of disease in those with the target condition",
    "21b": "Distribution of alternative diagnoses in those without it",
    "22": "Time interval and interventions between index test and reference standard",
    "23": "Cross tabulation of index test results by reference standard results",
    "24": "Estimates of diagnostic accuracy and their precision (such as confidence intervals)",
    "25": "Adverse events from the index test or reference standard",
    "26": "Study limitations",
    "27": "Implications for practice",
    "28": "Registration number and name of registry",
    "29": "Where the full study protocol can be accessed",
    "30": "Sources of funding and role of funders",
}

TRIPOD_AI: dict[str, str] = {
    "1": "Title",
    "2": "Abstract",
    "3a": "Healthcare context and rationale",
    "3b": "Target population and intended purpose",
    "3c": "Known health inequalities",
    "4": "Objectives",
    "5a": "Data sources",
    "5b": "Dates of data collection",
    "6a": "Study setting",
    "6b": "Eligibility criteria",
    "6c": "Treatments received",
    "7": "Data preparation and quality checking",
    "8a": "Outcome definition",
    "8b": "Outcome assessment and blinding",
    "8c": "Outcome assessor qualifications",
    "9a": "Choice of predictors",
    "9b": "Definition of predictors",
    "9c": "Predictor assessor qualifications",
    "10": "Sample size",
    "11": "Handling of missing data",
    "12a": "How the data were used (development / evaluation)",
    "12b": "Predictor handling",
    "12c": "Model type and building steps",
    "12d": "Heterogeneity across clusters",
    "12e": "Performance measures and their rationale",
    "12f": "Model updating",
    "12g": "How model predictions were calculated",
    "13": "Class imbalance",
    "14": "Fairness",
    "15": "Model output and classification thresholds",
    "16": "Training versus evaluation data differences",
    "17": "Ethical approval",
    "18a": "Funding",
    "18b": "Conflicts of interest",
    "18c": "Protocol access",
    "18d": "Registration",
    "18e": "Data sharing",
    "18f": "Code sharing",
    "19": "Patient and public involvement",
    "20a": "Flow of participants",
    "20b": "Participant characteristics",
    "20c": "Comparison of development and evaluation data",
    "21": "Numbers of participants and outcome events",
    "22": "Model specification",
    "23a": "Model performance with confidence intervals, including subgroups",
    "23b": "Heterogeneity of performance across clusters",
    "24": "Model updating results",
    "25": "Interpretation",
    "26": "Limitations",
    "27a": "Handling of poor or missing input data",
    "27b": "User interaction and expertise needed",
    "27c": "Future research",
}

#: dossier section id -> (title shown, STARD 2015 items, TRIPOD+AI items)
SECTION_ITEMS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "identity": ("Identity", ("10a", "28", "29"), ("12g", "18c", "18d", "18f", "22")),
    "summary": ("Pre-registered endpoints", ("4", "12a", "14", "24"), ("4", "12e", "15", "23a")),
    "flow": ("Participant flow", ("6", "15", "16", "19"), ("6b", "7", "11", "20a", "21")),
    "accuracy": ("Diagnostic accuracy", ("12a", "23", "24"), ("15", "23a")),
    "discrimination": ("Discrimination", ("14", "24"), ("12e", "23a")),
    "calibration": ("Calibration", (), ("12e", "23a")),
    "errors": ("Confidence-weighted errors", ("24",), ("12e", "15", "23a")),
    "subgroups": ("Subgroups and heterogeneity", ("17", "24"), ("12d", "14", "23a", "23b")),
    "comparisons": ("Model versus biopsy", ("10b", "14", "24"), ("12e", "23a")),
    "deviations": ("Deviations and amendments", ("29",), ("18c", "18d")),
    "traceability": ("Traceability", (), ("18f",)),
    "environment": ("Environment", ("10a",), ("12g", "18f")),
}


def checklist_table(present: set[str]) -> Table:
    """One row per dossier section (those in ``present``): its STARD and TRIPOD+AI items."""
    rows = []
    for section, (title, stard, tripod) in SECTION_ITEMS.items():
        if section not in present:
            continue
        rows.append(
            (
                title,
                "; ".join(f"{i} {STARD_2015[i]}" for i in stard) or None,
                "; ".join(f"{i} {TRIPOD_AI[i]}" for i in tripod) or None,
            )
        )
    return make_table(
        "checklist",
        "Reporting checklist map",
        [
            ("section", "Dossier section", "text"),
            ("stard_2015", "STARD 2015 items", "text"),
            ("tripod_ai", "TRIPOD+AI items", "text"),
        ],
        rows,
    )


def uncovered_items(present: set[str]) -> tuple[list[str], list[str]]:
    """Items of each checklist that no present section answers (for the study report)."""
    stard = {i for s in present if s in SECTION_ITEMS for i in SECTION_ITEMS[s][1]}
    tripod = {i for s in present if s in SECTION_ITEMS for i in SECTION_ITEMS[s][2]}
    return (
        [f"{i} {t}" for i, t in STARD_2015.items() if i not in stard],
        [f"{i} {t}" for i, t in TRIPOD_AI.items() if i not in tripod],
    )
