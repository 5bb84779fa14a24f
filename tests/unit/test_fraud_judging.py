"""How a learned fraud score is judged (pure logic): the job's ranking of the rules then the score,
and the per-day metrics training compares a challenger and the champion on."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from credit_platform.model.fraud_score import FraudModel, rule_weights, served
from credit_platform.model.fraud_training import SERVED_AP, FraudTrainingOptions, NothingToLearn, _judge, trained_on
from credit_platform.rules.fraud_features import FEATURE_NAMES


def test_the_rules_alerts_come_first_then_the_score():
    scores = np.array([0.9, 0.1, 0.5, 0.99])
    ranking = served(scores, np.array([False, True, False, False]))
    assert list(np.argsort(-ranking)) == [1, 3, 0, 2]  # the rule's alert, then the score's order
    assert list(served(scores, np.zeros(4, dtype=bool))) == list(scores)


def _model(weight: float) -> FraudModel:
    """A model that scores by the first feature only (its sign: `weight`)."""
    n = len(FEATURE_NAMES)
    return FraudModel("m", FEATURE_NAMES, (0.0,) * n, (1.0,) * n, (weight,) + (0.0,) * (n - 1), 0.0, 0.5)


def test_a_score_behind_the_rules_is_judged_as_served_and_alone():
    """Day one: the rules alert the two frauds with a low feature; the other two frauds have a high
    one. A score that ranks a high feature first is poor alone on what the rules already catch, and
    perfect behind them; its reverse is the other way round."""
    rows = []
    for day in (date(2026, 1, 1), date(2026, 1, 2)):
        for i in range(20):
            fraud, alerted = i < 4, i < 2
            feature = 0.0 if alerted else (5.0 if fraud else float(i % 3))
            rows.append({"day": day, "user_id": f"u{i}", "rules": alerted, "label_now": fraud,
                         **{name: 0.0 for name in FEATURE_NAMES}, FEATURE_NAMES[0]: feature})
    validation = pl.DataFrame(rows).with_columns(pl.col(FEATURE_NAMES[0]).cast(pl.Float64))
    per_day, mean = _judge(validation, {"behind": _model(1.0), "reverse": _model(-1.0)})
    assert [d["day"] for d in per_day] == ["2026-01-01", "2026-01-02"]
    assert mean["behind"][SERVED_AP] == pytest.approx(1.0)
    assert mean["behind"]["average_precision"] < 0.9  # alone it ranks the rules' frauds last
    assert mean["reverse"][SERVED_AP] < mean["behind"][SERVED_AP]
    with pytest.raises(NothingToLearn, match="no validation day"):  # days of no chargeback: a clear refusal
        _judge(validation.with_columns(pl.lit(False).alias("label_now")), {"behind": _model(1.0)})
    assert set(mean["behind"]) == {"auc", "average_precision", "card_precision_at_100", "served_auc",
                                   SERVED_AP, "served_card_precision_at_100"}


def test_the_rules_alerts_weigh_little_by_default_and_make_a_version_of_their_own():
    default = FraudTrainingOptions(as_of=date(2026, 3, 1), run_id="a")
    alike = FraudTrainingOptions(as_of=date(2026, 3, 1), run_id="a", rules_weight=1)
    assert 0 < default.rules_weight < 0.1 and trained_on(default) == "purchases a rule alerts weighted 0.02"
    assert trained_on(alike) == "all purchases alike" and default.version != alike.version
    assert trained_on(FraudTrainingOptions(as_of=date(2026, 3, 1), run_id="a", rules_weight=0)) == (
        "purchases no rule alerts")
    assert FraudTrainingOptions(as_of=date(2026, 3, 1), run_id="b").version == default.version
    assert FraudTrainingOptions(as_of=date(2026, 3, 1), run_id="a", rules_weight=1.0).version == alike.version
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="rules_weight"):
            FraudTrainingOptions(as_of=date(2026, 3, 1), run_id="a", rules_weight=bad)
    assert list(rule_weights(np.array([True, False]), 0.02)) == [0.02, 1.0]
    for bad in (0, 1, -0.5, float("nan")):
        with pytest.raises(ValueError, match="alert_share"):
            FraudTrainingOptions(as_of=date(2026, 3, 1), run_id="a", alert_share=bad)
    assert FraudTrainingOptions(as_of=date(2026, 3, 1), run_id="a", alert_share=0.005).version != default.version


def test_a_model_of_other_features_is_refused(monkeypatch):
    """A model records the features' definition it was trained on; one trained on another (an older
    UNUSUAL_RATIO, say) is refused where a model goes live or is backtested."""
    from credit_platform.rules import fraud_features

    now = fraud_features.features_version()
    assert now == fraud_features.features_version() and len(now) == 12
    trained = _model(1.0)
    assert trained.features_version == ""
    with pytest.raises(ValueError, match="not recorded"):
        trained.check_features()
    FraudModel(**{**_model(1.0).__dict__, "features_version": now}).check_features()
    assert FraudModel.from_json(FraudModel(**{**_model(1.0).__dict__, "features_version": now}).to_json()) \
        .features_version == now
    version = FraudTrainingOptions(as_of=date(2026, 3, 1), run_id="a").version
    monkeypatch.setattr(fraud_features, "UNUSUAL_RATIO", 3.0)
    assert fraud_features.features_version() != now
    assert FraudTrainingOptions(as_of=date(2026, 3, 1), run_id="a").version != version  # a model of its own
    with pytest.raises(ValueError, match=f"trained on features of definition {now}"):
        FraudModel(**{**_model(1.0).__dict__, "features_version": now}).check_features()
