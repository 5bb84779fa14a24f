"""The learned fraud score: a logistic regression on the platform's standardized features
(`rules.fraud_features`), fitted on the chargebacks reported by a cut-off, and applied as one SQL
expression of its coefficients, so the stream and a backtest compute the very score Python does.

Why a logistic regression first (`bench/fraud_model_quality.py`, README): on the platform's held-out
days it passes the aims (fitted as `train-fraud` fits it: average precision 0.80 alone and 0.977
behind the rules' alerts, against 0.6; card precision@100 0.99 against 0.3), the rules then it
catch more than the rules loosened to the same alert volume, its score is a short SQL expression
whose coefficients can be published like any rule setting, and each alert can name its strongest
features (coefficient × standardized value). A boosted model ranks better alone (average precision
0.93) but not behind the rules, and would need its trees compiled to SQL.

The features go in as `LN(1 + x)` for counts, amounts, ratios, distances and speeds (their tails are
long), as 0/1 for the flags; each is standardized with the training sample's mean and deviation.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from credit_platform.rules.fraud_features import (
    FEATURE_NAMES,
    FEATURES,
    FLAGS,
    contribution_sql,
    features_version,
    score_sql,
)

if TYPE_CHECKING:
    import polars as pl

    from credit_platform.rules.fraud import FraudRules

WORDS = dict(FEATURES)
CARDS_AT = 100  # card precision@k, as the detection report and the handbook count it


@dataclass(frozen=True)
class FraudModel:
    version: str
    features: tuple[str, ...]
    means: tuple[float, ...]  # of the transformed features, on the training sample
    scales: tuple[float, ...]
    weights: tuple[float, ...]  # per standardized feature
    intercept: float
    threshold: float  # a purchase whose score reaches this raises a `fraud_score` alert
    # the features' definition it was trained on (`fraud_features.features_version`; "" for a model
    # trained before it was recorded, or read back from a rules version published before it was)
    features_version: str = field(default="", compare=False)

    def check_features(self) -> None:
        """ValueError unless this model was trained on the features the platform computes now."""
        if self.features_version != (now := features_version()):
            raise ValueError(
                f"fraud model {self.version} was trained on features of definition "
                f"{self.features_version or '(not recorded)'}, the platform computes definition {now}: its "
                "coefficients would score other numbers; train a model on the current features (train-fraud)")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FraudModel:
        raw = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})

    # ---- Python twin
    def standardized(self, frame: pl.DataFrame) -> np.ndarray:
        return (transformed(frame, self.features) - np.array(self.means)) / np.array(self.scales)

    def contributions(self, frame: pl.DataFrame) -> np.ndarray:
        return self.standardized(frame) * np.array(self.weights)

    def score(self, frame: pl.DataFrame) -> np.ndarray:
        return 1 / (1 + np.exp(-(self.intercept + self.contributions(frame).sum(axis=1))))

    def strongest(self, frame: pl.DataFrame, k: int = 3) -> list[list[str]]:
        """Per purchase, the words of the `k` features that raised its score the most."""
        order = np.argsort(-self.contributions(frame), axis=1, kind="stable")[:, :k]
        return [[WORDS[self.features[i]] for i in row] for row in order]

    # ---- SQL twin
    def score_sql(self) -> str:
        """The score as one Flink SQL expression over the columns of `rules.fraud_features.feature_query`."""
        return score_sql([contribution_sql(name, repr(w), repr(m), repr(s)) for name, w, m, s in zip(
            self.features, self.weights, self.means, self.scales, strict=True)], repr(self.intercept))

    # ---- as the rules' settings: how a model is published to the running job
    def settings(self) -> dict[str, object]:
        """This model as `fraud_score` settings (`RULE.KEY` -> value) of a fraud rules version: switched
        on, at its threshold, with its coefficients. Every feature of the platform gets a weight (0 for
        one the model does not use), so a published version leaves no coefficient of an older model."""
        own = dict(zip(self.features, zip(self.weights, self.means, self.scales, strict=True), strict=True))
        out: dict[str, object] = {"fraud_score.enabled": True, "fraud_score.model": self.version,
                                  "fraud_score.features": self.features_version,
                                  "fraud_score.threshold": self.threshold, "fraud_score.intercept": self.intercept}
        for name in FEATURE_NAMES:
            weight, mean, scale = own.get(name, (0.0, 0.0, 1.0))
            out |= {f"fraud_score.weight_{name}": weight, f"fraud_score.mean_{name}": mean,
                    f"fraud_score.scale_{name}": scale}
        return out

    @classmethod
    def from_rules(cls, rules: FraudRules) -> FraudModel:
        """The model a fraud rules version holds (its `fraud_score` settings)."""
        def of(kind: str) -> tuple[float, ...]:
            return tuple(float(getattr(rules, f"fraud_score_{kind}_{name}")) for name in FEATURE_NAMES)

        return cls(rules.fraud_score_model, FEATURE_NAMES, of("mean"), of("scale"), of("weight"),
                   float(rules.fraud_score_intercept), float(rules.fraud_score_threshold),
                   features_version=rules.fraud_score_features)


def transformed(frame: pl.DataFrame, features: tuple[str, ...] = FEATURE_NAMES) -> np.ndarray:
    columns = [frame[name].cast(float).to_numpy() for name in features]
    return np.column_stack([c if name in FLAGS else np.log1p(c) for name, c in zip(features, columns, strict=True)])


def fit(frame: pl.DataFrame, labels: np.ndarray, version: str, alert_share: float = 0.01,
        features: tuple[str, ...] = FEATURE_NAMES, weights: np.ndarray | None = None) -> FraudModel:
    """A logistic regression on the standardized, transformed features, each purchase weighing
    `weights` (default: alike); the alert threshold is the score above which the training sample's
    top `alert_share` of purchases lie."""
    from sklearn.linear_model import LogisticRegression

    x = transformed(frame, features)
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales == 0] = 1.0
    model = LogisticRegression(max_iter=2_000, C=1.0).fit((x - means) / scales, labels, sample_weight=weights)
    fitted = FraudModel(version, features, tuple(means.tolist()), tuple(scales.tolist()),
                        tuple(model.coef_[0].tolist()), float(model.intercept_[0]), 1.0, features_version())
    threshold = float(np.quantile(fitted.score(frame), 1 - alert_share))
    return FraudModel(**{**asdict(fitted), "threshold": threshold})


def card_precision_at(users: np.ndarray, scores: np.ndarray, fraud: np.ndarray, k: int = CARDS_AT) -> float:
    """Of the `k` cards with the highest score (a card's score: its highest purchase's), the share
    with a fraudulent purchase."""
    import polars as pl

    cards = (pl.DataFrame({"user": users, "score": scores, "fraud": fraud})
             .group_by("user").agg(pl.col("score").max(), pl.col("fraud").any()))
    return float(cards.sort("score", descending=True).head(k)["fraud"].mean())


def rule_weights(alerted: np.ndarray, rules_weight: float) -> np.ndarray:
    """What each training purchase weighs in the fit: `rules_weight` where a rule alerts it, else 1.
    Below 1 the score learns mostly behind the rules: the job raises their alerts anyway."""
    return np.where(np.asarray(alerted, dtype=bool), rules_weight, 1.0)


def served(scores: np.ndarray, alerted: np.ndarray) -> np.ndarray:
    """How the job ranks purchases with the rules and a score: every purchase a rule alerts first,
    then the rest by the score (a score lies in [0, 1], so a rule's alert adds 1). The alerts of any
    volume are the top of this ranking."""
    return np.asarray(scores, dtype=float) + np.asarray(alerted, dtype=bool)


def day_metrics(users: np.ndarray, scores: np.ndarray, fraud: np.ndarray) -> dict[str, float]:
    """One day's AUC, average precision and card precision@100 of a score against its labels."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {"auc": float(roc_auc_score(fraud, scores)),
            "average_precision": float(average_precision_score(fraud, scores)),
            "card_precision_at_100": card_precision_at(users, scores, fraud)}
