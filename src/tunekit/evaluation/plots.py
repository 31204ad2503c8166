"""PNG plots: confusion matrix and reliability diagram (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tunekit.atomic import atomic_path  # noqa: E402

ANNOTATE_UP_TO = 20  # beyond this many classes, cell numbers become unreadable


def plot_confusion_matrix(confusion: np.ndarray, classes: list[str], target: Path, title: str) -> Path:
    """Row-normalised confusion matrix (true label per row), with counts when there are few classes."""
    confusion = np.asarray(confusion)
    k = len(classes)
    normalised = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    size = min(4 + 0.28 * k, 30)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), [str(c) for c in classes], rotation=90 if k > 6 else 0, fontsize=8 if k > 20 else 10)
    ax.set_yticks(range(k), [str(c) for c in classes], fontsize=8 if k > 20 else 10)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= ANNOTATE_UP_TO:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center",
                        color="white" if normalised[i, j] > 0.5 else "black", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true label")
    return _save(fig, target)


def plot_reliability(reliability: dict[str, list[float]], ece: float, target: Path, title: str) -> Path:
    """Accuracy against confidence per bin, with the diagonal of perfect calibration."""
    confidence = np.asarray(reliability["confidence"])
    accuracy = np.asarray(reliability["accuracy"])
    count = np.asarray(reliability["count"])
    bins = len(count)
    edges = np.linspace(0, 1, bins + 1)
    filled = count > 0
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 6.5), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    top.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    top.bar(edges[:-1][filled], accuracy[filled], width=1 / bins, align="edge", alpha=0.7, edgecolor="black",
            label="accuracy")
    top.plot(confidence[filled], accuracy[filled], "o", color="darkred", markersize=4, label="mean confidence")
    top.set_ylabel("accuracy")
    top.set_title(f"{title} (ECE {ece:.3f})")
    top.legend(loc="upper left")
    bottom.bar(edges[:-1], count, width=1 / bins, align="edge", color="gray")
    bottom.set_yscale("log" if count.max() > 100 * max(count[filled].min(), 1) else "linear")
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("examples")
    return _save(fig, target)


def _save(fig, target: Path) -> Path:
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return target
