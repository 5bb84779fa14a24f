"""How a risk team judges a scorecard: discrimination (AUC, Gini, KS) out of time, calibration by
risk grade, and the curves the model report draws. numpy only: the same code judges the training
run, the champion on a challenger's sample, and the bench."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from credit_platform.rules.lending import LendingPolicy


def auc(y: np.ndarray, risk: np.ndarray) -> float:
    """Area under the ROC curve of `risk` (higher = riskier) for defaults `y` (ties count half)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, risk))


def ks(y: np.ndarray, risk: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the cumulative shares of bads and goods."""
    fpr, tpr = roc(y, risk)
    return float(np.max(tpr - fpr))


def roc(y: np.ndarray, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, risk)
    return fpr, tpr


def calibration(y: np.ndarray, pd: np.ndarray, grades: np.ndarray) -> list[dict[str, Any]]:
    """Per risk grade: applications, mean predicted PD, observed default rate."""
    rows = []
    for grade in sorted(set(grades.tolist())):
        mask = grades == grade
        rows.append({"grade": grade, "count": int(mask.sum()), "predicted_pd": round(float(pd[mask].mean()), 4),
                     "observed_default_rate": round(float(y[mask].mean()), 4)})
    return rows


def grades_of(pd: np.ndarray, policy: LendingPolicy) -> np.ndarray:
    """numpy twin of `rules.credit.risk_grade` (the PD as the warehouse holds it, 6 decimals)."""
    from credit_platform.rules.credit import GRADES, grade_limits

    limits = np.array([float(x) for x in grade_limits(policy)])
    return np.array(GRADES)[np.searchsorted(limits, np.round(pd, 6), side="left")]


def judge(y: np.ndarray, pd: np.ndarray, points: np.ndarray, policy: LendingPolicy) -> dict[str, Any]:
    """AUC, Gini, KS and calibration of one scored sample."""
    a = auc(y, -points)
    return {"rows": int(len(y)), "default_rate": round(float(y.mean()), 4), "auc": round(a, 4),
            "gini": round(2 * a - 1, 4), "ks": round(ks(y, -points), 4),
            "calibration": calibration(y, pd, grades_of(pd, policy))}


def decision_shares(pd: np.ndarray, policy: LendingPolicy) -> dict[str, float]:
    """Shares of approve / refer / decline under the policy's cut-offs (before fraud and exceptions)."""
    approve = pd <= float(policy.approve_max_pd)
    decline = pd >= float(policy.decline_min_pd)
    return {"approve": round(float(approve.mean()), 4), "manual_review": round(float((~approve & ~decline).mean()), 4),
            "decline": round(float(decline.mean()), 4)}


def bad_rate_at(y: np.ndarray, risk: np.ndarray, share: float) -> float:
    """Default rate among the `share` of applications with the lowest risk (the ones approved)."""
    n = max(1, round(share * len(y)))
    order = np.argsort(risk, kind="stable")[:n]
    return float(y[order].mean())


