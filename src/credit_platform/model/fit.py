"""Fitting the scorecard: monotonic optimal binning of each characteristic (optbinning), weights of
evidence, a logistic regression on them, and points scaled by points-to-double-the-odds.

- Numeric characteristics are binned under the monotonic trend their `Characteristic.trend` states
  (the default rate may only rise with the loan amount, only fall with the credit score, ...), so
  the points can never reward a riskier value; categorical ones are binned freely.
- WoE of a bin: ln(share of the goods in it / share of the bads in it), smoothed by half a count.
- A characteristic whose coefficient comes out with the wrong sign (it would turn its WoE order
  around, which collinearity can do) or whose information value is below `MIN_IV` is dropped, and
  the regression refitted, until every kept one is sound.
- Points of bin i of characteristic j: `round(-factor * (beta_j * woe_ij + alpha / n) + offset / n)`;
  a category never seen in training gets the characteristic's worst points.
"""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from credit_platform.rules.credit import CHARACTERISTICS, Bin, Characteristic, Scorecard, ScoredCharacteristic

if TYPE_CHECKING:
    import polars as pl

    from credit_platform.rules.lending import LendingPolicy

log = logging.getLogger(__name__)

MIN_IV = 0.01  # characteristics below this information value carry noise, not risk
MIN_BIN_SHARE = 0.03  # every numeric bin holds at least this share of the sample
MAX_BINS = 8
SCORE_BANDS = 10  # the PSI of score_points is over the training sample's deciles
# The MIP solver, not CP-SAT: CP-SAT's parallel workers may return either of two equally optimal
# binnings depending on thread timing (seen under load: one loan-amount bin split in two, same
# points), which changed the model's version for the same data. The MIP solver is deterministic,
# and faster here (0.3 s against 1.6 s on 30k applications).
SOLVER = "mip"


def _numeric_splits(name: str, trend: str, x: np.ndarray, y: np.ndarray) -> list[float]:
    from optbinning import OptimalBinning

    binning = OptimalBinning(name=name, dtype="numerical", solver=SOLVER, monotonic_trend=trend,
                             max_n_prebins=20, min_prebin_size=0.02, min_bin_size=MIN_BIN_SHARE, max_n_bins=MAX_BINS)
    binning.fit(x, y)
    return [float(s) for s in binning.splits]


def _categorical_groups(name: str, x: np.ndarray, y: np.ndarray) -> list[tuple[str, ...]]:
    from optbinning import OptimalBinning

    binning = OptimalBinning(name=name, dtype="categorical", solver=SOLVER, min_prebin_size=0.001,
                             min_bin_size=0.001, max_n_bins=MAX_BINS)
    binning.fit(x, y)
    return [tuple(sorted(str(c) for c in group)) for group in binning.splits]


def _bins(c: Characteristic, x: np.ndarray, y: np.ndarray) -> tuple[list[Bin], np.ndarray]:
    """The characteristic's bins (without points yet) and each row's bin index."""
    if c.kind == "numeric":
        splits = _numeric_splits(c.name, c.trend, x, y)
        edges = [None, *splits, None]
        shells = [Bin(points=0, lower=edges[i], upper=edges[i + 1]) for i in range(len(edges) - 1)]
        index = np.searchsorted(np.asarray(splits), x, side="right") if splits else np.zeros(len(x), dtype=int)
    else:
        groups = _categorical_groups(c.name, x, y)
        shells = [Bin(points=0, categories=g) for g in groups]
        lookup = {cat: i for i, g in enumerate(groups) for cat in g}
        index = np.array([lookup.get(v, -1) for v in x])
    goods, bads = (y == 0).sum(), (y == 1).sum()
    bins = []
    for i, shell in enumerate(shells):
        mask = index == i
        n, bad = int(mask.sum()), int(y[mask].sum())
        woe = math.log(((n - bad + 0.5) / goods) / ((bad + 0.5) / bads))
        bins.append(Bin(points=0, lower=shell.lower, upper=shell.upper, categories=shell.categories,
                        share=n / len(x), count=n, event_rate=bad / n if n else 0.0, woe=woe))
    return bins, index


def _information_value(bins: list[Bin], y: np.ndarray) -> float:
    goods, bads = (y == 0).sum(), (y == 1).sum()
    iv = 0.0
    for b in bins:
        bad = b.event_rate * b.count
        iv += ((b.count - bad + 0.5) / goods - (bad + 0.5) / bads) * b.woe
    return iv


def fit_scorecard(sample: pl.DataFrame, policy: LendingPolicy, as_of: date) -> Scorecard:
    """The scorecard of a training sample (characteristics' source columns plus `defaulted`)."""
    from sklearn.linear_model import LogisticRegression

    from credit_platform.rules.credit import characteristic_expr

    y = sample["defaulted"].cast(int).to_numpy()
    if y.sum() < 50 or (1 - y).sum() < 50:
        raise ValueError(f"training sample has {int(y.sum())} defaults and {int((1 - y).sum())} repaid loans; "
                         "a scorecard needs at least 50 of each")
    values = sample.select(*[characteristic_expr(c.name).alias(c.name) for c in CHARACTERISTICS])
    binned: dict[str, tuple[list[Bin], np.ndarray]] = {}
    for c in CHARACTERISTICS:
        bins, index = _bins(c, values[c.name].to_numpy(), y)
        iv = _information_value(bins, y)
        log.info("%s: %d bins, IV %.3f", c.name, len(bins), iv)
        if iv >= MIN_IV and len(bins) > 1:
            binned[c.name] = (bins, index)
    kept = list(binned)
    while True:
        woe = np.column_stack([np.array([b.woe for b in binned[n][0]])[binned[n][1]] for n in kept])
        model = LogisticRegression(C=1e6, max_iter=1000).fit(woe, y)
        beta = model.coef_[0]
        wrong = [n for n, b in zip(kept, beta, strict=True) if b >= 0]  # higher WoE must mean lower risk
        if not wrong:
            break
        log.info("dropping %s: coefficient with the wrong sign", wrong)
        kept = [n for n in kept if n not in wrong]
        if not kept:
            raise ValueError("no characteristic keeps a sound coefficient; the sample carries no signal")
    alpha = float(model.intercept_[0])
    offset, factor = Scorecard.scaling(policy)
    n = len(kept)
    characteristics = []
    for name, b_j in zip(kept, beta, strict=True):
        bins = [Bin(points=round(-factor * (b_j * b.woe + alpha / n) + offset / n), lower=b.lower, upper=b.upper,
                    categories=b.categories, share=round(b.share, 6), count=b.count,
                    event_rate=round(b.event_rate, 6), woe=round(b.woe, 6)) for b in binned[name][0]]
        characteristics.append(ScoredCharacteristic(name=name, bins=tuple(bins), coefficient=round(float(b_j), 6),
                                                    unseen_points=min(b.points for b in bins)))
    card = Scorecard(version="", characteristics=tuple(characteristics), offset=offset, factor=factor)
    _check_monotonic(card)
    card = _with_score_bands(card, sample)
    digest = hashlib.sha256(card.to_json().encode()).hexdigest()[:8]
    return Scorecard(**{**card.__dict__, "version": f"scorecard-{as_of:%Y%m%d}-{digest}"})


def _check_monotonic(card: Scorecard) -> None:
    """The points never reward a riskier value of a characteristic with a stated trend."""
    from credit_platform.rules.credit import BY_NAME

    for c in card.characteristics:
        trend = BY_NAME[c.name].trend
        points = [b.points for b in c.bins]
        if trend == "descending" and points != sorted(points):  # PD falls as x rises: points rise
            raise ValueError(f"{c.name}: points {points} do not rise with the value")
        if trend == "ascending" and points != sorted(points, reverse=True):
            raise ValueError(f"{c.name}: points {points} do not fall with the value")


def _with_score_bands(card: Scorecard, sample: pl.DataFrame) -> Scorecard:
    """Deciles of the training sample's score_points (edges and shares), the PSI's reference."""
    from credit_platform.rules.credit import score_frame

    points = score_frame(card, sample)["score_points"].to_numpy()
    edges = tuple(sorted({float(e) for e in np.quantile(points, np.linspace(0, 1, SCORE_BANDS + 1)[1:-1])}))
    index = np.searchsorted(np.asarray(edges), points, side="right")  # as score_bin_index counts edges <= points
    shares = tuple(round(float((index == i).mean()), 6) for i in range(len(edges) + 1))
    return Scorecard(**{**card.__dict__, "score_bins": edges, "score_shares": shares})
