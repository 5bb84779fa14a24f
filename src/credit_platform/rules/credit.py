"""The credit scorecard, stated once: its characteristics, how a trained scorecard turns an
application into points, a probability of default (PD), a risk grade and reason codes, and the
population stability of a day against the training sample; each with its engine twins beside it.

- Python reference: `score_application` (one application at a time), `psi`.
- Spark twin: `scorecard_columns` (SQL column expressions of the nightly job, no Python UDF),
  `bin_index_column` (the PSI's bins).
- polars twin: `score_frame` (the training job's evaluation and the bench, on whole samples).

A `Scorecard` is data: per characteristic, its bins (numeric `lower <= x < upper`, or a list of
categories) with their points and their share of the training sample. `model.fit` learns it,
`model.registry` stores it as JSON in the warehouse (`credit_models`). The points scale by
points-to-double-the-odds: `points = offset + factor * ln(odds good:bad)`, `factor = pdo / ln 2`,
so the PD of an applicant is `1 / (1 + exp((points - offset) / factor))`, rounded to 6 decimals;
decisions compare that rounded PD with the policy's cut-offs (`rules.lending`), so every engine
decides on the same decimal.

`tests/unit/test_scorecard.py` runs every twin on the same applications against the reference.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from credit_platform.contracts.events import CHANNELS, EMPLOYMENT, LOAN_PURPOSES

if TYPE_CHECKING:
    import polars as pl
    from pyspark.sql import Column

    from credit_platform.rules.lending import LendingPolicy

PD_DECIMALS = 6
PD_QUANTUM = Decimal(1).scaleb(-PD_DECIMALS)
PD_SQL_TYPE = f"decimal({PD_DECIMALS + 1},{PD_DECIMALS})"  # the warehouse's numeric(7,6)
GRADES = ("A", "B", "C", "D", "E", "F")
MAX_REASONS = 4


@dataclass(frozen=True)
class Characteristic:
    """One input of the scorecard: how it is computed from the application, which way risk must go
    with it (`trend`: the PD may only rise with an "ascending" one, only fall with a "descending"
    one; categorical ones are free), and the words a loan officer reads when it costs points."""

    name: str
    kind: str  # "numeric" | "categorical"
    trend: str  # "ascending" | "descending" | "free"
    reason: str
    categories: tuple[str, ...] = ()


CHARACTERISTICS = (
    Characteristic("credit_score", "numeric", "descending", "credit bureau score is low"),
    Characteristic("annual_income", "numeric", "descending", "annual income is low"),
    Characteristic("loan_amount", "numeric", "ascending", "loan amount is high"),
    Characteristic("loan_to_income", "numeric", "ascending", "loan amount is high relative to income"),
    Characteristic("loan_term_months", "numeric", "ascending", "loan term is long"),
    Characteristic("loan_purpose", "categorical", "free", "loan purpose carries higher risk", LOAN_PURPOSES),
    Characteristic("employment_status", "categorical", "free", "employment status carries higher risk", EMPLOYMENT),
    Characteristic("channel", "categorical", "free", "application channel carries higher risk", CHANNELS),
)
CHARACTERISTIC_NAMES = tuple(c.name for c in CHARACTERISTICS)
BY_NAME = {c.name: c for c in CHARACTERISTICS}
MIN_INCOME = 1.0  # an income of 0 counts as 1: the ratio is then as high as it gets, never missing


# ---- the characteristics' values, one per engine ---------------------------------------------------
def characteristic_value(name: str, application: dict[str, Any]) -> float | str:
    """Python reference: the value of one characteristic for one application."""
    if name == "loan_to_income":
        return float(application["loan_amount"]) / max(float(application["annual_income"]), MIN_INCOME)
    if BY_NAME[name].kind == "numeric":
        return float(application[name])
    return str(application[name])


def characteristic_column(name: str) -> Column:
    """Spark twin of `characteristic_value` (doubles, as the reference divides)."""
    from pyspark.sql import functions as F

    if name == "loan_to_income":
        return F.col("loan_amount").cast("double") / F.greatest(F.col("annual_income").cast("double"),
                                                                F.lit(MIN_INCOME))
    if BY_NAME[name].kind == "numeric":
        return F.col(name).cast("double")
    return F.col(name).cast("string")


def characteristic_expr(name: str) -> pl.Expr:
    """polars twin of `characteristic_value`."""
    import polars as pl

    if name == "loan_to_income":
        return pl.col("loan_amount").cast(pl.Float64) / pl.max_horizontal(pl.col("annual_income").cast(pl.Float64),
                                                                           pl.lit(MIN_INCOME))
    if BY_NAME[name].kind == "numeric":
        return pl.col(name).cast(pl.Float64)
    return pl.col(name).cast(pl.Utf8)


# ---- the scorecard ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bin:
    points: int
    lower: float | None = None  # numeric: lower <= x < upper (None: unbounded)
    upper: float | None = None
    categories: tuple[str, ...] = ()  # categorical: one of these
    share: float = 0.0  # of the training sample, for the PSI
    count: int = 0
    event_rate: float = 0.0
    woe: float = 0.0

    def label(self) -> str:
        if self.categories:
            return ", ".join(self.categories)
        low = "" if self.lower is None else f"{self.lower:g} <= "
        high = "" if self.upper is None else f" < {self.upper:g}"
        return f"{low}x{high}" if (low or high) else "any"


@dataclass(frozen=True)
class ScoredCharacteristic:
    name: str
    bins: tuple[Bin, ...]
    unseen_points: int  # a category the training sample never had: the worst points of the characteristic
    coefficient: float = 0.0

    @property
    def best_points(self) -> int:
        return max(b.points for b in self.bins)

    def bin_index(self, value: float | str) -> int:
        """Python reference: which bin the value falls in (-1: an unseen category)."""
        for i, b in enumerate(self.bins):
            if b.categories:
                if value in b.categories:
                    return i
            elif (b.lower is None or value >= b.lower) and (b.upper is None or value < b.upper):  # type: ignore[operator]
                return i
        return -1

    def points(self, value: float | str) -> int:
        i = self.bin_index(value)
        return self.unseen_points if i < 0 else self.bins[i].points


@dataclass(frozen=True)
class Scorecard:
    version: str
    characteristics: tuple[ScoredCharacteristic, ...]
    offset: float  # points = offset + factor * ln(odds good:bad)
    factor: float
    score_bins: tuple[float, ...] = ()  # inner edges of the training sample's score deciles (PSI of score_points)
    score_shares: tuple[float, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def scaling(cls, policy: LendingPolicy) -> tuple[float, float]:
        """(offset, factor) from the policy: `score_points` at `score_odds` good:bad, +pdo doubles the odds."""
        factor = float(policy.points_to_double_odds) / math.log(2)
        return float(policy.score_points_at_odds) - factor * math.log(float(policy.score_odds)), factor

    def to_json(self) -> str:
        doc = asdict(self)
        doc.pop("metadata")
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict) -> Scorecard:
        doc = json.loads(text) if isinstance(text, str) else dict(text)
        chars = tuple(ScoredCharacteristic(
            name=c["name"], unseen_points=int(c["unseen_points"]), coefficient=float(c.get("coefficient", 0.0)),
            bins=tuple(Bin(**{**b, "categories": tuple(b.get("categories") or ())}) for b in c["bins"]))
            for c in doc["characteristics"])
        unknown = {c.name for c in chars} - set(CHARACTERISTIC_NAMES)
        if unknown:
            raise ValueError(f"scorecard {doc.get('version')} uses unknown characteristics {sorted(unknown)}")
        return cls(version=str(doc["version"]), characteristics=chars, offset=float(doc["offset"]),
                   factor=float(doc["factor"]), score_bins=tuple(doc.get("score_bins") or ()),
                   score_shares=tuple(doc.get("score_shares") or ()))


def pd_of_points(points: int | float, offset: float, factor: float) -> Decimal:
    """Python reference: the PD of a points total, rounded half-up to 6 decimals (as Spark's round)."""
    raw = 1.0 / (1.0 + math.exp((points - offset) / factor))
    return Decimal(repr(raw)).quantize(PD_QUANTUM, ROUND_HALF_UP)


def risk_grade(pd: Decimal, policy: LendingPolicy) -> str:
    """A..F: the first band whose upper PD (the policy's `grade_*_max_pd`, inclusive) holds the PD."""
    for grade, limit in zip(GRADES, grade_limits(policy), strict=False):
        if pd <= limit:
            return grade
    return GRADES[-1]


def grade_limits(policy: LendingPolicy) -> tuple[Decimal, ...]:
    return (policy.grade_a_max_pd, policy.grade_b_max_pd, policy.grade_c_max_pd, policy.grade_d_max_pd,
            policy.grade_e_max_pd)


@dataclass(frozen=True)
class Score:
    points: int
    probability_of_default: Decimal
    risk_grade: str
    reason_codes: tuple[str, ...]
    points_by_characteristic: dict[str, int]


def score_application(card: Scorecard, application: dict[str, Any], policy: LendingPolicy) -> Score:
    """Python reference: points, PD, grade and reason codes (up to four: the characteristics that cost
    the applicant the most points against their best bin, most first, in the scorecard's order on ties)."""
    by = {c.name: c.points(characteristic_value(c.name, application)) for c in card.characteristics}
    total = sum(by.values())
    pd = pd_of_points(total, card.offset, card.factor)
    losses = [(c.best_points - by[c.name], i, BY_NAME[c.name].reason) for i, c in enumerate(card.characteristics)]
    reasons = tuple(text for loss, _, text in sorted((x for x in losses if x[0] > 0), key=lambda x: (-x[0], x[1])))
    return Score(total, pd, risk_grade(pd, policy), reasons[:MAX_REASONS], by)


# ---- Spark twin ------------------------------------------------------------------------------------
def _holds(c: ScoredCharacteristic, b: Bin, value: Column) -> Column:
    from pyspark.sql import functions as F

    if b.categories:
        return value.isin(list(b.categories))
    holds = F.lit(True)
    if b.lower is not None:
        holds = holds & (value >= F.lit(b.lower))
    if b.upper is not None:
        holds = holds & (value < F.lit(b.upper))
    return holds


def _first_bin(c: ScoredCharacteristic, values: list[int]) -> Column:
    """One flat CASE: `values[i]` for the first bin i that holds the characteristic's value."""
    from pyspark.sql import functions as F

    value = characteristic_column(c.name)
    case = None
    for b, v in zip(c.bins, values, strict=True):
        case = F.when(_holds(c, b, value), F.lit(v)) if case is None else case.when(_holds(c, b, value), F.lit(v))
    return case  # type: ignore[return-value]


def bin_index_column(c: ScoredCharacteristic) -> Column:
    """Spark twin of `ScoredCharacteristic.bin_index`."""
    return _first_bin(c, list(range(len(c.bins)))).otherwise(-1)


def _points_column(c: ScoredCharacteristic) -> Column:
    return _first_bin(c, [b.points for b in c.bins]).otherwise(c.unseen_points)


def pd_column(points: Column, card: Scorecard) -> Column:
    """Spark twin of `pd_of_points`: decimal(7,6)."""
    from pyspark.sql import functions as F

    raw = F.lit(1.0) / (F.lit(1.0) + F.exp((points.cast("double") - F.lit(card.offset)) / F.lit(card.factor)))
    return F.round(raw, PD_DECIMALS).cast(PD_SQL_TYPE)


def grade_column(pd: Column, policy: LendingPolicy) -> Column:
    """Spark twin of `risk_grade`."""
    from pyspark.sql import functions as F

    grade = None
    for letter, limit in zip(GRADES, grade_limits(policy), strict=False):
        holds = pd <= F.lit(limit).cast(PD_SQL_TYPE)
        grade = F.when(holds, F.lit(letter)) if grade is None else grade.when(holds, F.lit(letter))
    return grade.otherwise(F.lit(GRADES[-1]))  # type: ignore[union-attr]


def scorecard_columns(card: Scorecard, policy: LendingPolicy) -> dict[str, Column]:
    """Spark twin of `score_application`: `score_points`, `probability_of_default`, `risk_grade`,
    `reason_codes` (an array of strings) and `model_version`, as column expressions."""
    from pyspark.sql import functions as F

    parts = [_points_column(c) for c in card.characteristics]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    losses = F.array(*[F.struct((F.lit(c.best_points) - p).alias("loss"), F.lit(-i).alias("order"),
                                F.lit(BY_NAME[c.name].reason).alias("text"))
                       for i, (c, p) in enumerate(zip(card.characteristics, parts, strict=True))])
    ranked = F.sort_array(F.filter(losses, lambda x: x["loss"] > 0), asc=False)
    pd = pd_column(total, card)
    return {"score_points": total.cast("int"), "probability_of_default": pd, "risk_grade": grade_column(pd, policy),
            "reason_codes": F.transform(F.slice(ranked, 1, MAX_REASONS), lambda x: x["text"]),
            "model_version": F.lit(card.version)}


# ---- polars twin -----------------------------------------------------------------------------------
def points_expr(c: ScoredCharacteristic) -> pl.Expr:
    import polars as pl

    value = characteristic_expr(c.name)
    points = pl.lit(c.unseen_points)
    for b in reversed(c.bins):
        if b.categories:
            holds = value.is_in(list(b.categories))
        else:
            holds = pl.lit(True)
            if b.lower is not None:
                holds = holds & (value >= b.lower)
            if b.upper is not None:
                holds = holds & (value < b.upper)
        points = pl.when(holds).then(pl.lit(b.points)).otherwise(points)
    return points.cast(pl.Int64)


def score_frame(card: Scorecard, frame: pl.DataFrame) -> pl.DataFrame:
    """polars twin for whole samples: `score_points` and `probability_of_default` (float, rounded as the
    reference rounds for all but exact halves) of each row, plus each characteristic's points."""
    import polars as pl

    out = frame.select(*[points_expr(c).alias(f"points_{c.name}") for c in card.characteristics])
    total = pl.sum_horizontal(*[pl.col(f"points_{c.name}") for c in card.characteristics])
    return out.with_columns(total.alias("score_points")).with_columns(
        (1.0 / (1.0 + ((pl.col("score_points") - card.offset) / card.factor).exp())).round(PD_DECIMALS)
        .alias("probability_of_default"))


# ---- population stability ----------------------------------------------------------------------------
PSI_FLOOR = 1e-4  # an empty bin counts as this share, so the PSI stays finite
# At or above this, a population has shifted (the usual rule of thumb: < 0.10 stable, 0.10-0.25
# watch, >= 0.25 act): the Prometheus alert CreditModelPopulationShift and the warehouse suite's
# warning use it (a unit test holds the alert rule to it).
PSI_ALERT = 0.25


def psi(expected: list[float] | tuple[float, ...], actual: list[float] | tuple[float, ...]) -> float:
    """Population stability index of two distributions over the same bins: sum (a - e) ln(a / e)."""
    if len(expected) != len(actual):
        raise ValueError(f"PSI over different bins: {len(expected)} expected, {len(actual)} actual")
    return float(sum((max(a, PSI_FLOOR) - max(e, PSI_FLOOR)) * math.log(max(a, PSI_FLOOR) / max(e, PSI_FLOOR))
                     for e, a in zip(expected, actual, strict=True)))


def score_bin_index(points: int | float, edges: tuple[float, ...]) -> int:
    """Python reference: which of the training score deciles (`edges` between them) holds these points."""
    return sum(1 for edge in edges if points >= edge)


def score_bin_column(points: Column, edges: tuple[float, ...]) -> Column:
    """Spark twin of `score_bin_index`."""
    from pyspark.sql import functions as F

    index = F.lit(0)
    for edge in edges:
        index = index + F.when(points >= F.lit(edge), 1).otherwise(0)
    return index
