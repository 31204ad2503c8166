"""Real-data named-entity benchmarks (CoNLL-2003, Weibo NER) for the tagger recipe.

Each experiment runs the real CLI (`tunekit train CONFIG`) in a subprocess, records wall time, peak resident
memory and the run's entity metrics into bench/results/ner.json, then rewrites the "Named-entity recognition"
table of docs/benchmarks.md from that file.

    python bench/ner_benchmarks.py --only conll2003-full      # one experiment
    python bench/ner_benchmarks.py --table-only               # re-render the docs table
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

from bench_common import ROOT, machine, train_measured, write_docs_section

RESULTS = ROOT / "bench" / "results" / "ner.json"
WEIBO_SOURCE = ROOT.parent / "shared" / "datasets" / "weibo_ner"
WEIBO_DATA = ROOT / "bench" / "data" / "weibo_ner"

# name -> (config, extra overrides, target entity micro-F1 on the test split or None, what is measured)
EXPERIMENTS: dict[str, tuple[str, list[str], float | None, str]] = {
    "conll2003-full": ("configs/conll2003_minilm_full.yaml", [], 0.87,
                       "CoNLL-2003 test (eng.testb) entity F1, MiniLM-L6 full fine-tuning"),
    "conll2003-full-seed1": ("configs/conll2003_minilm_full.yaml", ["train.seed=1"], 0.87,
                             "CoNLL-2003 test (eng.testb) entity F1, MiniLM-L6 full fine-tuning, seed 1"),
    "conll2003-lora": ("configs/conll2003_minilm_lora.yaml", [], 0.83,
                       "CoNLL-2003 test (eng.testb) entity F1, MiniLM-L6 LoRA"),
    "weibo-ner-full": ("bench/configs/weibo_ner_minilm_full.yaml", [], None,
                       "Weibo NER v2 test entity F1, MiniLM-L6 full (English vocabulary)"),
}
TABLE_START, TABLE_END = "<!-- ner-table:start -->", "<!-- ner-table:end -->"


def prepare_weibo() -> None:
    """Strip the word-segmentation digit each Weibo character carries (``李0\\tB-PER.NAM`` → ``李 B-PER.NAM``)."""
    WEIBO_DATA.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        lines = []
        for line in (WEIBO_SOURCE / f"weiboNER_2nd_conll.{split}").read_text(encoding="utf-8").splitlines():
            char_and_digit, _, tag = line.partition("\t")
            lines.append(f"{char_and_digit[:-1]}\t{tag}" if tag else "")
        (WEIBO_DATA / f"{split}.conll").write_text("\n".join(lines) + "\n", encoding="utf-8")


def unknown_share(config: str) -> float:
    """Share of the training split's characters that the model's tokenizer maps to its unknown token."""
    from tunekit.config import load_config
    from tunekit.data.tagged import read_tagged
    from tunekit.models import resolve_model
    from tunekit.run.model_io import load_tokenizer

    settings = load_config(Path(config))
    tokenizer = load_tokenizer(resolve_model(settings.model.name))
    words = [w for sentence in read_tagged(settings.data.train).words for w in sentence]
    ids = tokenizer(words, add_special_tokens=False)["input_ids"]
    return sum(tokenizer.unk_token_id in i for i in ids) / len(words)


def argmax_decoding_f1(run_dir: Path, test_file: str) -> float:
    """Test entity F1 of the same trained model with `eval.tag_decoding=argmax` (the decoder's before/after)."""
    from dataclasses import replace

    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    from tunekit.data.tagged import read_tagged
    from tunekit.inference.tagger import TagPredictor

    predictor = TagPredictor.from_run_dir(run_dir)
    argmax = TagPredictor(predictor.model, predictor.tokenizer, predictor.tag_map,
                          replace(predictor.config, eval=replace(predictor.config.eval, tag_decoding="argmax")),
                          frozen=True)
    test = read_tagged(test_file)
    return float(f1_score(test.tags, argmax.predict(test.words), mode="strict", scheme=IOB2))


def run_experiment(name: str) -> dict:
    config, overrides, target, what = EXPERIMENTS[name]
    if name.startswith("weibo"):
        prepare_weibo()
    run_dir = ROOT / "bench" / "runs" / name
    status, wall, peak_rss_mb = train_measured(config, overrides, run_dir)
    if status != 0:
        raise SystemExit(f"{name} failed with status {status}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["test"]
    result = {
        "what": what, "command": f"python -m tunekit train {config} " + " ".join(overrides),
        "bench_command": f"python bench/ner_benchmarks.py --only {name}", "target_f1": target,
        "test_micro_f1": test["micro_f1"], "test_macro_f1": test["macro_f1"],
        "test_token_accuracy": test["token_accuracy"], "validation_micro_f1": metrics["validation"]["micro_f1"],
        "per_type_f1": {k: v["f1"] for k, v in test["per_type"].items()},
        "training": metrics["training"], "wall_minutes": wall / 60, "peak_rss_mb": peak_rss_mb,
        "machine": machine(), "date": date.today().isoformat(),
    }
    result["test_micro_f1_argmax_decoding"] = argmax_decoding_f1(run_dir, scored_test_file(run_dir))
    if name.startswith("weibo"):
        result["unknown_character_share"] = unknown_share(config)
    return result


def scored_test_file(run_dir: Path) -> str:
    """The test file the run was scored on, from its resolved config."""
    from tunekit.config import load_config

    test = Path(load_config(run_dir / "config.yaml").data.test)
    return str(test if test.is_absolute() else ROOT / test)


def render_table(results: dict) -> str:
    rows = [TABLE_START, "",
            "| Experiment | Test entity F1 | Target | Argmax decoding | Token acc. | Budget | Trainable | Wall time "
            "| Peak RSS |",
            "|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    for r in results.values():
        t = r["training"]
        target = f"≥ {r['target_f1']:.2f}" if r.get("target_f1") else "report"
        budget = f"{t['epochs']} epochs, {t['steps']} steps, lr {t['learning_rate']:.0e}"
        trainable = f"{100 * t['trainable_parameters'] / t['total_parameters']:.2f}%"
        argmax = r.get("test_micro_f1_argmax_decoding")
        argmax = "—" if argmax is None else f"{argmax:.4f}"
        rows.append(f"| {r['what']} | **{r['test_micro_f1']:.4f}** | {target} | {argmax} | "
                    f"{r['test_token_accuracy']:.4f} | {budget} | {trainable} | {r['wall_minutes']:.1f} min | "
                    f"{r['peak_rss_mb'] / 1024:.1f} GB |")
    rows += ["", "Commands: " + "; ".join(f"`{r['bench_command']}`" for r in results.values()), "", TABLE_END]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=sorted(EXPERIMENTS), help="run just this experiment")
    parser.add_argument("--table-only", action="store_true", help="re-render the docs table from the results")
    args = parser.parse_args()
    for name in ([] if args.table_only else args.only or list(EXPERIMENTS)):
        print(f"== {name}", flush=True)
        result = run_experiment(name)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}  # re-read: others may have written
        results[name] = result
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    write_docs_section(TABLE_START, TABLE_END, render_table(results), "## Named-entity recognition")


if __name__ == "__main__":
    main()
