"""The audit report as a self-contained HTML page and as the model card's audit section (Markdown)."""

from __future__ import annotations

import html
import json
from typing import Any

STATUS_COLOUR = {"passed": "#2e7d32", "failed": "#c62828", "skipped": "#9e9e9e", "not gated": "#616161"}


def _figure(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def headline_rows(report: dict) -> list[tuple[str, str]]:
    """(what, value) pairs for the headline figures of a report."""
    robustness, privacy = report["robustness"], report["privacy"]
    return [
        ("counterfactual flip rate", _figure(report["fairness"]["counterfactual"]["flip_rate"])),
        ("clean accuracy", _figure(robustness["clean_accuracy"])),
        ("perturbed accuracy (mean)", _figure(robustness["perturbed_accuracy"])),
        ("attack success rate", _figure(robustness.get("attack_success_rate"))),
        ("membership-inference AUC", _figure(privacy.get("membership_inference_auc"))),
        ("PII findings in training data", _figure(privacy.get("pii", {}).get("findings"))),
        ("expected calibration error", _figure(report["calibration"]["ece"])),
    ]


def model_card_section(report: dict) -> str:
    """Markdown for MODEL_CARD.md: headline figures, gate checks, skipped checks."""
    verdict = "passed" if report["gate"]["passed"] else "FAILED"
    lines = [f"Audited on `{report.get('data', 'data')}` ({report['examples']} examples); gate **{verdict}**.", "",
             "| check | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in headline_rows(report)]
    lines += ["", "| gated value | value | threshold | status |", "|---|---|---|---|"]
    lines += [f"| `{c['check']}` | {_figure(c['value'])} | {_figure(c['threshold'])} | {c['status']} |"
              for c in report["gate"]["checks"]]
    for name, reason in report.get("skipped", {}).items():
        lines.append(f"\n- skipped `{name}`: {reason}")
    lines.append("\nFull report: `audit/audit.json`, `audit/audit.html`.")
    return "\n".join(lines) + "\n"


def render_html(report: dict) -> str:
    """A standalone page: verdict, headline table, gate checks, examples, and the full JSON."""
    e = html.escape
    verdict = report["gate"]["passed"]
    rows = "".join(f"<tr><td>{e(n)}</td><td>{e(v)}</td></tr>" for n, v in headline_rows(report))
    checks = "".join(
        f"<tr><td><code>{e(c['check'])}</code></td><td>{e(_figure(c['value']))}</td>"
        f"<td>{e(_figure(c['threshold']))}</td>"
        f"<td style='color:{STATUS_COLOUR[c['status']]}'>{e(c['status'])}</td></tr>"
        for c in report["gate"]["checks"])
    examples = []
    for name, result in report["fairness"]["counterfactual"]["lists"].items():
        for ex in result["examples"]:
            examples.append(f"<li>[{e(name)}] {e(ex['original'])} → <b>{e(ex['swapped'])}</b>: "
                            f"{e(str(ex['original_label']))} → {e(str(ex['swapped_label']))} "
                            f"(shift {ex['probability_shift']:.3f})</li>")
    for ex in report["robustness"].get("attack", {}).get("examples", []):
        examples.append(f"<li>[attack] {e(ex['original'])} → <b>{e(ex['adversarial'])}</b></li>")
    plot = report["calibration"].get("plot")
    colour, word = ("#2e7d32", "passed") if verdict else ("#c62828", "FAILED")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>tunekit audit</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .8em;text-align:left}}
pre{{background:#f5f5f5;padding:1em;overflow:auto;font-size:80%}}</style></head><body>
<h1>Audit: gate <span style="color:{colour}">{word}</span></h1>
<p>{e(str(report.get('run_dir', '')))} on {e(str(report.get('data', '')))}, {report['examples']} examples.</p>
<table>{rows}</table><h2>Gate</h2><table><tr><th>value</th><th></th><th>threshold</th><th>status</th></tr>{checks}</table>
<h2>Examples</h2><ul>{''.join(examples) or '<li>none</li>'}</ul>
{f'<h2>Calibration</h2><img src="{e(plot)}" alt="reliability diagram">' if plot else ''}
<h2>Full report</h2><pre>{e(json.dumps(report, indent=2, default=str))}</pre></body></html>
"""
