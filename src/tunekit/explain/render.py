"""Show attributions: a coloured terminal line, an HTML page of highlighted tokens, a PNG bar chart per text."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from rich.text import Text  # noqa: E402

from tunekit.atomic import atomic_path, write_text  # noqa: E402

MAX_PLOTTED_TEXTS = 12  # one panel per text: beyond this the figure gets unreadable


def _display_tokens(result: dict) -> list[tuple[str, float]]:
    skip = {"[CLS]", "[SEP]", "<s>", "</s>", "[PAD]", "<pad>"}
    return [(t, a) for t, a in zip(result["tokens"], result["attributions"], strict=True) if t not in skip]


def _scale(result: dict) -> float:
    return max((abs(a) for _, a in _display_tokens(result)), default=0.0) or 1.0


def terminal_text(result: dict) -> Text:
    """Tokens on green (for the explained label) or red (against it) backgrounds, darker = stronger."""
    line = Text()
    scale = _scale(result)
    for token, value in _display_tokens(result):
        strength = int(55 + 200 * min(abs(value) / scale, 1.0))
        colour = f"rgb(0,{strength},0)" if value > 0 else f"rgb({strength},0,0)"
        line.append(token, style=f"on {colour}" if abs(value) / scale > 0.05 else "")
        line.append(" ")
    return line


def html_page(results: list[dict], title: str = "tunekit explanations") -> str:
    """A standalone page: each text with its tokens highlighted (green supports the label, red opposes it)."""
    rows = []
    for result in results:
        scale = _scale(result)
        spans = []
        for token, value in _display_tokens(result):
            alpha = min(abs(value) / scale, 1.0)
            rgb = "46,125,50" if value > 0 else "198,40,40"
            spans.append(f'<span title="{value:+.4f}" style="background:rgba({rgb},{alpha:.2f})">'
                         f"{html.escape(token)}</span>")
        extra = f", completeness delta {result['relative_delta']:.2%}" if "relative_delta" in result else ""
        rows.append(f"<p><b>{html.escape(str(result['label']))}</b> ({result['method']}{extra})<br>"
                    f"{' '.join(spans)}</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body style='font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.8'>"
            f"<h1>{html.escape(title)}</h1>{''.join(rows)}</body></html>\n")


def write_outputs(results: list[dict], out_dir: Path) -> dict[str, Path]:
    """``explanations.html`` and ``explanations.png`` in ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / "explanations.html"
    write_text(page, html_page(results))
    shown = results[:MAX_PLOTTED_TEXTS]
    fig, axes = plt.subplots(len(shown), 1, figsize=(8, 2.2 * len(shown)), squeeze=False)
    for ax, result in zip(axes[:, 0], shown, strict=True):
        tokens = _display_tokens(result)
        values = [v for _, v in tokens]
        ax.bar(range(len(values)), values, color=["#2e7d32" if v > 0 else "#c62828" for v in values])
        ax.set_xticks(range(len(values)), [t for t, _ in tokens], rotation=60, fontsize=8)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(f"{result['label']} ({result['method']})", fontsize=9)
    fig.tight_layout()
    image = out_dir / "explanations.png"
    with atomic_path(image) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return {"html": page, "png": image}
