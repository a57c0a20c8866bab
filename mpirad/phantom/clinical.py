"""Study B clinical features and per-artery coronary calcium (CAC) scores.

Clinical features are drawn at published prevalences of patients with a normal stress MPI
(JHU / REFINE / HS-SPECT cohorts; /work/shared/reference/synthetic_cohort_numbers.md):
about half men (the paper: 232 of 461), 38% Black, hypertension ~65%, hyperlipidemia ~55%,
diabetes ~28%, current smoking ~15%, family history ~30%, BMI ~30 kg/m^2, LVEF 74 +/- 9% (F)
and 63 +/- 7% (M).

CAC follows a two-part model:

1. presence (CAC > 0): a logistic latent score with odds ratios per 10 years of age 2.2, male
   2.5, Black 0.55, hypertension 1.3, hyperlipidemia 1.45, smoking 1.4, diabetes 1.3,
   family history 1.3, BMI per 5 kg/m^2 1.1 (MESA / JAHA 2021 ranges);
2. amount given presence: ln CAC latent with Pletcher et al. (2004) coefficients (age per 10
   years 0.69, male 0.73, hypertension 0.23, diabetes 0.48, hyperlipidemia 0.15, smoking
   0.45) plus Gaussian residual (SD 1.65).

Calibration: the intercepts are set by rank within the cohort, so the cohort's counts in
the paper's six Figure 4 bins are the paper's 178/32/77/80/38/23 out of 428 scaled to the
cohort size (largest-remainder rounding): the ``n_zero`` lowest presence scores get 0 and
the others fill the bins in order of their amount score; within a bin the value is spread
log-uniformly by rank (the top bin with a Pareto-like tail). The total is split across LAD,
LCX, RCA and LM with more arteries involved at higher totals, LAD-dominant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mpirad.constants import CAC_FIGURE4_BINS, CAC_FIGURE4_PAPER_COUNTS, CLINICAL_FEATURES

#: Presence model: log odds ratios (per unit of the feature as coded in :func:`design`).
PRESENCE_LOG_ODDS: dict[str, float] = {
    "age_per_10y": float(np.log(2.2)),
    "male": float(np.log(2.5)),
    "black": float(np.log(0.55)),
    "hypertension": float(np.log(1.3)),
    "hyperlipidemia": float(np.log(1.45)),
    "smoking": float(np.log(1.4)),
    "diabetes": float(np.log(1.3)),
    "family_history": float(np.log(1.3)),
    "bmi_per_5": float(np.log(1.1)),
}
#: Amount model (ln CAC given CAC > 0): Pletcher et al. 2004 Table 3 coefficients.
AMOUNT_COEFFICIENTS: dict[str, float] = {
    "age_per_10y": 0.69,
    "male": 0.73,
    "hypertension": 0.23,
    "diabetes": 0.48,
    "hyperlipidemia": 0.15,
    "smoking": 0.45,
}
AMOUNT_RESIDUAL_SD = 1.65
#: Share of the total CAC per artery (Dirichlet concentration) and involvement weights.
ARTERIES = ("lad", "lcx", "rca", "lm")
ARTERY_CONCENTRATION = {"lad": 2.0, "lcx": 1.0, "rca": 1.3, "lm": 0.35}
ARTERY_INVOLVEMENT = {"lad": 0.45, "lcx": 0.20, "rca": 0.25, "lm": 0.10}
#: Upper end (Agatston) of the log-uniform spread of the top Figure 4 bin before its tail.
TOP_BIN_SCALE = 1000.0


def truncated_normal(
    rng: np.random.Generator,
    mean: np.ndarray | float,
    sd: np.ndarray | float,
    low: float,
    high: float,
    n: int,
) -> np.ndarray:
    """Normal draws restricted to ``[low, high]`` (out-of-range draws are redrawn).

    Args:
        rng: random generator.
        mean: mean (scalar or ``(n,)``).
        sd: standard deviation (scalar or ``(n,)``).
        low: smallest allowed value.
        high: largest allowed value.
        n: number of draws.

    Returns:
        ``(n,)`` float array.
    """
    means = np.broadcast_to(np.asarray(mean, dtype=np.float64), (n,))
    sds = np.broadcast_to(np.asarray(sd, dtype=np.float64), (n,))
    values = rng.normal(means, sds)
    for _ in range(100):
        bad = (values < low) | (values > high)
        if not bad.any():
            break
        values[bad] = rng.normal(means[bad], sds[bad])
    return np.clip(values, low, high)


def sample_clinical(rng: np.random.Generator, patient_ids: list[str]) -> pd.DataFrame:
    """Draw the ten clinical features for a cohort.

    Args:
        rng: random generator.
        patient_ids: the patients, in order.

    Returns:
        Table with ``patient_id`` and :data:`mpirad.constants.CLINICAL_FEATURES`: ``sex``
        ("F"/"M"), ``race`` ("white"/"black"/"other"), ``age`` (years), binary 0/1
        ``smoking``, ``diabetes``, ``hypertension``, ``hyperlipidemia``, ``family_history``,
        ``bmi`` (kg/m^2, 1 decimal) and ``lvef`` (%).
    """
    n = len(patient_ids)
    male = rng.random(n) < 0.503
    race = rng.choice(np.array(["white", "black", "other"]), size=n, p=[0.55, 0.38, 0.07])
    age = np.round(truncated_normal(rng, 61.0, 11.0, 30.0, 92.0, n)).astype(np.int64)
    bmi = np.exp(truncated_normal(rng, np.log(29.5), 0.2, np.log(17.0), np.log(60.0), n)).round(1)

    def bernoulli(base: float, shift: np.ndarray) -> np.ndarray:
        logit = np.log(base / (1 - base)) + shift
        return (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    age_c = (age - 61.0) / 10.0
    bmi_c = (bmi - 29.5) / 5.0
    black = race == "black"
    hypertension = bernoulli(0.65, 0.45 * age_c + 0.3 * bmi_c + 0.4 * black)
    diabetes = bernoulli(0.26, 0.25 * age_c + 0.45 * bmi_c + 0.2 * black)
    hyperlipidemia = bernoulli(0.55, 0.3 * age_c + 0.1 * bmi_c)
    smoking = bernoulli(0.15, -0.3 * age_c + 0.2 * male)
    family_history = bernoulli(0.30, np.zeros(n))
    lvef = truncated_normal(
        rng, np.where(male, 63.0, 74.0), np.where(male, 7.0, 9.0), 45.0, 90.0, n
    )
    lvef = np.round(lvef).astype(np.int64)
    table = pd.DataFrame(
        {
            "patient_id": patient_ids,
            "sex": np.where(male, "M", "F"),
            "race": race,
            "age": age,
            "smoking": smoking,
            "diabetes": diabetes,
            "hypertension": hypertension,
            "hyperlipidemia": hyperlipidemia,
            "family_history": family_history,
            "bmi": bmi,
            "lvef": lvef,
        }
    )
    return table[["patient_id", *CLINICAL_FEATURES]]


def design(clinical: pd.DataFrame) -> pd.DataFrame:
    """Numeric covariates of the CAC model from a clinical table.

    Returns:
        Columns ``age_per_10y`` (centred at 60), ``male``, ``black``, the five binary
        histories and ``bmi_per_5`` (centred at 30).
    """
    return pd.DataFrame(
        {
            "age_per_10y": (clinical["age"].to_numpy(float) - 60.0) / 10.0,
            "male": (clinical["sex"] == "M").to_numpy(float),
            "black": (clinical["race"] == "black").to_numpy(float),
            "hypertension": clinical["hypertension"].to_numpy(float),
            "hyperlipidemia": clinical["hyperlipidemia"].to_numpy(float),
            "smoking": clinical["smoking"].to_numpy(float),
            "diabetes": clinical["diabetes"].to_numpy(float),
            "family_history": clinical["family_history"].to_numpy(float),
            "bmi_per_5": (clinical["bmi"].to_numpy(float) - 30.0) / 5.0,
        }
    )


def target_bin_counts(n: int) -> dict[str, int]:
    """The paper's Figure 4 counts scaled to ``n`` patients (largest-remainder rounding)."""
    total = sum(CAC_FIGURE4_PAPER_COUNTS.values())
    exact = {k: v * n / total for k, v in CAC_FIGURE4_PAPER_COUNTS.items()}
    counts = {k: int(np.floor(v)) for k, v in exact.items()}
    leftover = n - sum(counts.values())
    order = sorted(exact, key=lambda k: (-(exact[k] - counts[k]), list(exact).index(k)))
    for k in order[:leftover]:
        counts[k] += 1
    return counts


def sample_cac(
    rng: np.random.Generator, clinical: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-artery CAC (Agatston) from the two-part model, calibrated to Figure 4.

    Args:
        rng: random generator.
        clinical: table from :func:`sample_clinical`.

    Returns:
        ``(cac, latent)``: ``cac`` has ``patient_id``, ``cac_lad``, ``cac_lcx``,
        ``cac_rca``, ``cac_lm``, ``cac_total`` (0.1 resolution, total = sum of arteries);
        ``latent`` has the presence and amount scores (ground truth).
    """
    n = len(clinical)
    x = design(clinical)
    presence_linear = sum(x[k].to_numpy() * b for k, b in PRESENCE_LOG_ODDS.items())
    presence_score = presence_linear + rng.logistic(size=n)
    amount_linear = sum(x[k].to_numpy() * b for k, b in AMOUNT_COEFFICIENTS.items())
    amount_score = amount_linear + rng.normal(0.0, AMOUNT_RESIDUAL_SD, n)

    counts = target_bin_counts(n)
    total_tenths = np.zeros(n, dtype=np.int64)
    present = np.argsort(presence_score, kind="stable")[counts["0"] :]
    by_amount = present[np.argsort(amount_score[present], kind="stable")]
    start = 0
    for label, (low, high) in CAC_FIGURE4_BINS.items():
        if label == "0":
            continue
        members = by_amount[start : start + counts[label]]
        start += counts[label]
        k = len(members)
        if k == 0:
            continue
        position = (np.arange(k) + rng.uniform(0.05, 0.95, k)) / k
        if np.isfinite(high):
            lo = max(low, 1.0)
            values = np.exp(np.log(lo) + position * (np.log(high) - np.log(lo)))
        else:
            values = low * (1.0 - position * 0.95) ** -0.6
        tenths = np.clip(np.round(values * 10).astype(np.int64), int(low * 10) + 1, None)
        if np.isfinite(high):
            tenths = np.minimum(tenths, int(high * 10))
        total_tenths[members] = tenths

    per_artery = np.zeros((n, len(ARTERIES)), dtype=np.int64)
    concentration = np.array([ARTERY_CONCENTRATION[a] for a in ARTERIES])
    involvement = np.array([ARTERY_INVOLVEMENT[a] for a in ARTERIES])
    for i in np.flatnonzero(total_tenths):
        total = total_tenths[i] / 10.0
        extra = rng.binomial(3, float(np.clip(np.log10(total) / 3.5, 0.0, 0.9)))
        chosen = rng.choice(len(ARTERIES), size=1 + extra, replace=False, p=involvement)
        shares = rng.dirichlet(concentration[chosen])
        raw = shares * total_tenths[i]
        parts = np.floor(raw).astype(np.int64)
        remainder = total_tenths[i] - parts.sum()
        parts[np.argsort(-(raw - parts), kind="stable")[:remainder]] += 1
        per_artery[i, chosen] = parts
    cac = pd.DataFrame({"patient_id": clinical["patient_id"].to_numpy()})
    for j, artery in enumerate(ARTERIES):
        cac[f"cac_{artery}"] = per_artery[:, j] / 10.0
    cac["cac_total"] = total_tenths / 10.0
    latent = pd.DataFrame(
        {
            "patient_id": clinical["patient_id"].to_numpy(),
            "presence_score": presence_score.round(6),
            "amount_score": amount_score.round(6),
        }
    )
    return cac, latent
