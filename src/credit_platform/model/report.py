"""The model report: one self-contained HTML page per scorecard (charts inline as PNG, no network)
with the out-of-time ROC against the bureau score and the ceiling, the KS curve, the score
distribution of goods and bads, calibration by risk grade and the points table; and an index of
every model. Written to `model_reports_dir`, served by the Airflow api-server behind its login
(plugins/data_docs.py, Browse > Credit Model Reports)."""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from credit_platform.config import Settings
from credit_platform.model import evaluation
from credit_platform.rules.credit import Scorecard

if TYPE_CHECKING:
    import polars as pl

    from credit_platform.rules.lending import LendingPolicy

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:12px}
.champion{color:#0a7a0a;font-weight:bold}.kpi{font-size:1.3em;margin-right:2em}"""


def reports_dir(settings: Settings) -> Path:
    return settings.model_reports_dir


def _png(fig) -> str:  # noqa: ANN001
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _charts(y: np.ndarray, pd_: np.ndarray, points: np.ndarray, validation: pl.DataFrame,
            calibration: list[dict]) -> list[tuple[str, str]]:
    os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-"))
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    charts = []
    fig, ax = plt.subplots(figsize=(5, 4.2))
    curves = [("scorecard", -points), ("bureau score only", -validation["credit_score"].to_numpy())]
    if "true_pd" in validation.columns and validation["true_pd"].null_count() == 0:
        curves.append(("true PD (ceiling)", validation["true_pd"].to_numpy()))
    for label, risk in curves:
        fpr, tpr = evaluation.roc(y, risk)
        ax.plot(fpr, tpr, label=f"{label} (AUC {evaluation.auc(y, risk):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate (goods declined)", ylabel="true positive rate (bads declined)",
           title="ROC, out of time")
    ax.legend(loc="lower right", fontsize=8)
    charts.append(("ROC", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4.2))
    order = np.argsort(points, kind="stable")
    bads = np.cumsum(y[order]) / max(1, y.sum())
    goods = np.cumsum(1 - y[order]) / max(1, (1 - y).sum())
    k = int(np.argmax(bads - goods))
    ax.plot(points[order], bads, label="bads (cumulative)")
    ax.plot(points[order], goods, label="goods (cumulative)")
    ax.vlines(points[order][k], goods[k], bads[k], colors="red", label=f"KS {bads[k] - goods[k]:.3f}")
    ax.set(xlabel="score points", ylabel="cumulative share", title="KS curve, out of time")
    ax.legend(fontsize=8)
    charts.append(("KS", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4.2))
    bins = np.linspace(points.min(), points.max() + 1, 30)
    ax.hist(points[y == 0], bins=bins, alpha=0.6, density=True, label="repaid")
    ax.hist(points[y == 1], bins=bins, alpha=0.6, density=True, label="defaulted")
    ax.set(xlabel="score points", ylabel="density", title="Score distribution, out of time")
    ax.legend(fontsize=8)
    charts.append(("Scores", _png(fig)))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4.2))
    grades = [r["grade"] for r in calibration]
    x = np.arange(len(grades))
    ax.bar(x - 0.2, [r["predicted_pd"] for r in calibration], 0.4, label="predicted PD (mean)")
    ax.bar(x + 0.2, [r["observed_default_rate"] for r in calibration], 0.4, label="observed default rate")
    ax.set_xticks(x, grades)
    ax.set(xlabel="risk grade", ylabel="probability", title="Calibration by grade, out of time")
    ax.legend(fontsize=8)
    charts.append(("Calibration", _png(fig)))
    plt.close(fig)
    return charts


def _table(header: list[str], rows: list[list[Any]], left: int = 1) -> str:
    head = "".join(f"<th class={'l' if i < left else 'r'}>{html.escape(h)}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td class={'l' if i < left else 'r'}>{html.escape(str(v))}</td>"
                                    for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render(card: Scorecard, metrics: dict[str, Any], y: np.ndarray, pd_: np.ndarray, points: np.ndarray,
           validation: pl.DataFrame, policy: LendingPolicy) -> str:
    oot, sample = metrics["out_of_time"], metrics["sample"]
    charts = "".join(f'<figure><img alt="{name}" src="{src}"></figure>'
                     for name, src in _charts(y, pd_, points, validation, oot["calibration"]))
    kpis = " ".join(f'<span class="kpi">{k} <b>{v}</b></span>' for k, v in (
        ("AUC", oot["auc"]), ("Gini", oot["gini"]), ("KS", oot["ks"]),
        *((k, v) for k, v in metrics["baselines"].items())))
    points_rows = [[c.name, b.label(), b.count, f"{b.share:.1%}", f"{b.event_rate:.2%}", f"{b.woe:+.3f}", b.points]
                   for c in card.characteristics for b in c.bins]
    promotion = metrics["promotion"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{card.version}</title>
<style>{STYLE}</style></head><body>
<p><a href="index.html">All credit models</a></p>
<h1>Credit scorecard {html.escape(card.version)}</h1>
<p>{kpis}</p>
<p>Out-of-time sample: {sample['validation_rows']:,} applications from {sample['out_of_time_from']}
(default rate {oot['default_rate']:.2%}); trained on {sample['train_rows']:,} applications from
{sample['application_dates'][0]} (performance window {sample['performance_window_days']} days).
Scaling: {policy.score_points_at_odds} points at {policy.score_odds}:1 good:bad odds,
{policy.points_to_double_odds} points to double the odds.</p>
<p>Promotion: <b>{'promoted' if promotion['promoted'] else 'not promoted'}</b>: {html.escape(promotion['reason'])}</p>
<div class="grid">{charts}</div>
<h2>Calibration by risk grade (out of time)</h2>
{_table(['grade', 'applications', 'predicted PD', 'observed default rate'],
        [[r['grade'], r['count'], r['predicted_pd'], r['observed_default_rate']] for r in oot['calibration']])}
<h2>Decisions under the policy's cut-offs (out of time, before fraud review and exceptions)</h2>
{_table(['approve (PD ≤ ' + str(policy.approve_max_pd) + ')', 'manual review', 'decline (PD ≥ '
         + str(policy.decline_min_pd) + ')'],
        [[f"{metrics['decision_shares'][k]:.1%}" for k in ('approve', 'manual_review', 'decline')]], left=0)}
<h2>Points table</h2>
<p>Characteristics dropped (information value below the floor, or a coefficient against their
stated trend): {html.escape(', '.join(metrics['dropped']) or 'none')}.</p>
{_table(['characteristic', 'bin', 'applications', 'share', 'default rate', 'WoE', 'points'], points_rows, left=2)}
</body></html>"""


def write(settings: Settings, card: Scorecard, metrics: dict[str, Any], y: np.ndarray, pd_: np.ndarray,
          points: np.ndarray, validation: pl.DataFrame, policy: LendingPolicy) -> Path:
    directory = reports_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{card.version}.html"
    path.write_text(render(card, metrics, y, pd_, points, validation, policy), encoding="utf-8")
    return path


def write_index(settings: Settings, models: list[dict[str, Any]]) -> Path:
    rows = "".join(
        f"<tr><td class=l><a href=\"{html.escape(Path(m['report_path'] or '').name)}\">"
        f"{html.escape(m['version'])}</a></td><td class=l><span class={m['status']}>{m['status']}</span></td>"
        f"<td>{m['trained_at']:%Y-%m-%d %H:%M}</td><td>{m['auc']:.4f}</td><td>{m['gini']:.4f}</td>"
        f"<td>{m['ks']:.4f}</td>"
        f"<td>{m['sample_from']} – {m['sample_to']}</td><td>{m['train_rows']:,} / {m['validation_rows']:,}</td>"
        f"<td class=l>{html.escape(m['promotion_reason'] or '')}</td></tr>" for m in models)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>Credit models</title><style>{STYLE}</style>"
            "</head><body><h1>Credit models</h1><p>Every trained scorecard (warehouse table credit_models); the "
            "nightly job scores with the champion. AUC, Gini and KS are out of time.</p><table><tr>"
            "<th class=l>version</th><th class=l>status</th><th>trained</th><th>AUC</th><th>Gini</th><th>KS</th>"
            "<th>applications</th><th>train / validation</th><th class=l>promotion</th></tr>"
            f"{rows}</table></body></html>")
    directory = reports_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
