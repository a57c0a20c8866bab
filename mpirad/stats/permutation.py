"""A permutation null for Fisher's X of the repeated-split protocol.

The paper compares Fisher's X = -2 sum(log p) over its 50 test sets with a chi-square law
on 100 degrees of freedom. That law needs 50 independent p-values; the test sets are
drawn from the same patients, and the winning models from overlapping train/dev sets, so
the p-values are dependent and X spreads wider than chi-square: the chi-square p-value is
too small. Permuting CAC across patients (one permutation of patient -> CAC row, all
arteries together, applied to every ROI and pool) and rerunning the *whole* protocol gives
X's distribution when no feature is related to CAC; the observed X is ranked in it.

- :func:`permuted_cac` one seeded permutation of the CAC table;
- :func:`permutation_null` B permutations (joblib workers over permutations, the project's
  :func:`mpirad.parallel.resolve_n_jobs` policy), X per ROI x pool for both alternatives;
- :meth:`PermutationNull.calibrate` the permutation p-value ``(1 + #{X_null >= X}) /
  (B + 1)`` next to the chi-square one, and a moment-matched scaled chi-square p-value
  (Brown 1975) that is smooth when B is small.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from mpirad.parallel import imap
from mpirad.stats.fisher import fisher_table

#: Permutations B of the book's profiles. One permutation reruns the whole 50 x 20
#: protocol: 56 s on one core for the synthetic cohort's 7 ROIs x 3 pools (measured; about
#: 60 s of wall time per permutation on 2 shared cores), so the quick profile takes 4
#: (about 2 minutes on 2 cores; its permutation p cannot go below 1/5, the moment-matched
#: p is the usable one) and the paper profile 1000 (about 15 core-hours).
PROFILE_PERMUTATIONS: dict[str, int] = {"quick": 4, "paper": 1000}


def profile_permutations(profile: str) -> int:
    """B of a book profile (:data:`PROFILE_PERMUTATIONS`; unknown profiles: the quick one's)."""
    return PROFILE_PERMUTATIONS.get(profile, PROFILE_PERMUTATIONS["quick"])


def permuted_cac(cac: pd.DataFrame, seed: int, permutation: int) -> pd.DataFrame:
    """The CAC table with its rows (every CAC column together) shuffled across patients.

    Args:
        cac: ``patient_id`` (column or index) + CAC columns, one row per analysed patient.
        seed, permutation: the permutation is drawn from ``default_rng([seed, permutation])``
            over the rows sorted by ``patient_id``, so it does not depend on the row order.

    Returns:
        ``patient_id`` + the same columns; patient i gets the scores of patient pi(i).
    """
    table = cac.reset_index() if "patient_id" not in cac.columns else cac
    table = table.sort_values("patient_id", kind="stable").reset_index(drop=True)
    order = np.random.default_rng([seed, permutation]).permutation(len(table))
    scores = table.drop(columns="patient_id").iloc[order].reset_index(drop=True)
    return pd.concat([table[["patient_id"]], scores], axis=1)


def _null_statistics(radiomic, clinical, cac, seed: int, permutation: int, protocol: dict):
    """X per ROI x pool (both alternatives) of one permuted run (a joblib task)."""
    from mpirad.stats.protocol import run_protocol

    result = run_protocol(radiomic, clinical, permuted_cac(cac, seed, permutation), **protocol)
    two = fisher_table(result.runs)[["roi", "pool", "fisher_x"]]
    greater = fisher_table(result.runs, alternative="greater")[["roi", "pool", "fisher_x"]]
    table = two.merge(greater, on=["roi", "pool"], suffixes=("", "_greater"))
    return table.assign(permutation=permutation)


@dataclass
class PermutationNull:
    """Fisher's X of B protocol runs on permuted CAC.

    Attributes:
        null: one row per permutation x ROI x pool: ``permutation``, ``roi``, ``pool``,
            ``fisher_x`` (two-sided Pearson p), ``fisher_x_greater`` (one-sided).
        permutations: B.
        seed: seed of the permutations.
    """

    null: pd.DataFrame
    permutations: int
    seed: int

    def calibrate(self, runs: pd.DataFrame, alpha: float = 0.01) -> pd.DataFrame:
        """Chi-square and permutation p-values of the observed X, per ROI x pool.

        Args:
            runs: the observed :attr:`mpirad.stats.ProtocolResult.runs`.
            alpha: level of the chi-square critical value.

        Returns:
            One row per ROI x pool; for each alternative (suffix ``""``: two-sided as the
            paper, ``"_greater"``: one-sided): ``fisher_x``, ``chi2_p`` (the paper's
            reference law), ``perm_p`` ((1 + #{X_null >= X}) / (B + 1)), ``moment_p``
            (scaled chi-square c * chi2_k with the null's mean and variance), and
            ``null_mean``/``null_sd`` of X (chi-square: df and sqrt(2 df)); plus ``df``,
            ``critical``, ``significant`` (X > critical, the paper's rule) and
            ``permutations``.
        """
        observed = fisher_table(runs, alpha)
        table = observed[["roi", "pool", "df", "critical", "significant"]].copy()
        for suffix, alternative in (("", "two-sided"), ("_greater", "greater")):
            x = fisher_table(runs, alpha, alternative=alternative)["fisher_x"].to_numpy()
            null = self._null_matrix(observed, f"fisher_x{suffix}")
            table[f"fisher_x{suffix}"] = x
            table[f"chi2_p{suffix}"] = stats.chi2.sf(x, observed["df"].to_numpy())
            table[f"perm_p{suffix}"] = ((null >= x[:, None]).sum(axis=1) + 1) / (null.shape[1] + 1)
            table[f"moment_p{suffix}"] = moment_matched_p(x, null)
            table[f"null_mean{suffix}"] = null.mean(axis=1)
            table[f"null_sd{suffix}"] = null.std(axis=1, ddof=1) if null.shape[1] > 1 else np.nan
        table["permutations"] = self.permutations
        return table

    def _null_matrix(self, observed: pd.DataFrame, column: str) -> np.ndarray:
        """(n ROI x pool, B) null X in ``observed``'s row order."""
        wide = self.null.pivot_table(
            index=["roi", "pool"], columns="permutation", values=column, aggfunc="first"
        )
        keys = pd.MultiIndex.from_frame(observed[["roi", "pool"]])
        missing = keys.difference(wide.index)
        if len(missing):
            raise ValueError(f"the permutation null lacks ROI x pool {list(missing)[:3]}")
        return wide.loc[keys].to_numpy(dtype=float)


#: Fewest permutations from which a moment-matched p is given: below it the null's variance
#: is too noisy (with B = 2 a smoke run gave 1e-67), and the p-value is NaN.
MIN_MOMENT_PERMUTATIONS = 10


def moment_matched_p(x: np.ndarray, null: np.ndarray) -> np.ndarray:
    """P(c * chi2_k >= x) with c, k matching the mean m and variance v of each null row.

    ``c = v / (2 m)`` and ``k = 2 m^2 / v`` (Brown 1975's approximation for Fisher's X of
    dependent p-values). Args: x (n,) statistics; null (n, B) null statistics. Returns
    (n,) p-values, NaN where B < :data:`MIN_MOMENT_PERMUTATIONS` or the null has no spread.
    """
    if null.shape[1] < MIN_MOMENT_PERMUTATIONS:
        return np.full(len(x), np.nan)
    mean = null.mean(axis=1)
    var = null.var(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = var / (2 * mean)
        dof = 2 * mean**2 / var
        p = stats.chi2.sf(x / scale, dof)
    return np.where(var > 0, p, np.nan)


def permutation_null(
    radiomic: Mapping[str, pd.DataFrame] | None,
    clinical: pd.DataFrame | None,
    cac: pd.DataFrame,
    *,
    permutations: int,
    seed: int = 0,
    n_jobs: int | None = None,
    progress: bool = False,
    scheduler: object = None,
    **protocol: object,
) -> PermutationNull:
    """Rerun the protocol on B permutations of CAC; Fisher's X of each ROI x pool.

    Args:
        radiomic, clinical, cac: as :func:`mpirad.stats.run_protocol` (``cac`` holds the
            analysed patients only: its rows are what is permuted).
        permutations: B (>= 1).
        seed: seed of the permutations (the splits keep the protocol's ``config.seed``).
        n_jobs: joblib workers over permutations (:func:`mpirad.parallel.resolve_n_jobs`);
            each permutation runs its protocol in one process.
        progress: a tqdm bar over permutations.
        scheduler: a Dask scheduler to run the permutations on
            (:func:`mpirad.parallel.resolve_scheduler`); default ``MPIRAD_DASK_SCHEDULER``,
            else joblib.
        **protocol: keyword arguments of :func:`mpirad.stats.run_protocol` (``config``,
            ``rois``, ``pools``, ...; its ``n_jobs`` is set to 1).

    Returns:
        :class:`PermutationNull`.
    """
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    protocol = {**protocol, "n_jobs": 1, "progress": False, "scheduler": "none"}
    args = [(radiomic, clinical, cac, seed, k, protocol) for k in range(permutations)]
    tables = imap(_null_statistics, args, n_jobs=n_jobs, scheduler=scheduler)
    if progress:
        from tqdm.auto import tqdm

        tables = tqdm(tables, total=permutations, desc="permutation null")
    null = pd.concat(list(tables), ignore_index=True)
    columns = ["permutation", "roi", "pool", "fisher_x", "fisher_x_greater"]
    return PermutationNull(null[columns], permutations, seed)
