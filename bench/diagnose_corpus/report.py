"""Verdicts, per-family accuracy and the reliability of ``confidence`` of the shipped diagnosis on one set.

Runs :func:`gradwise.diagnose.curves` (the full method, as users get it) on every run of a set and prints:
accuracy on the verified runs and on all runs, per family and per label, the reliability table (for bins of
confidence: how many verdicts, how many right), the share right among verdicts with confidence >= 0.9, and how
often the named runner-up is the right verdict when the verdict is wrong.

    python bench/diagnose_corpus/report.py --set corpus_fresh [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import load_set  # noqa: E402

from gradwise.diagnose import VERDICTS, curves  # noqa: E402

BINS = [(0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 0.95), (0.95, 1.0001)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="fresh", help="dev, fresh, tuning, heldout, final or fresh_old")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    for r in load_set(args.set):
        try:
            d = curves(r.path)
            rows.append({"run": r.name, "family": r.family, "label": r.label, "verified": r.verified,
                         "verdict": d.verdict, "confidence": d.confidence, "alternative": d.alternative,
                         "rule": d.rule, "variant": r.extra.get("variant")})
        except ValueError as err:
            rows.append({"run": r.name, "family": r.family, "label": r.label, "verified": r.verified,
                         "verdict": "error", "confidence": 0.0, "alternative": None, "rule": None, "error": str(err),
                         "variant": r.extra.get("variant")})
    out = summarise(rows)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": out}, indent=1))
    return 0


def summarise(rows: list[dict]) -> dict:
    ver = [r for r in rows if r["verified"]]
    right = lambda rs: sum(r["verdict"] == r["label"] for r in rs)  # noqa: E731
    out: dict = {"verified": [right(ver), len(ver)], "all": [right(rows), len(rows)]}
    print(f"verified runs: {right(ver)}/{len(ver)} = {right(ver) / max(len(ver), 1):.1%};  "
          f"all runs: {right(rows)}/{len(rows)} = {right(rows) / max(len(rows), 1):.1%}")
    fam: dict[str, list[dict]] = defaultdict(list)
    for r in ver:
        fam[r["family"]].append(r)
    out["per_family"] = {f: [right(rs), len(rs)] for f, rs in sorted(fam.items())}
    print("per family (verified): " + ", ".join(f"{f} {a}/{b}" for f, (a, b) in out["per_family"].items()))
    out["per_label"] = {v: [right([r for r in ver if r["label"] == v]), sum(r["label"] == v for r in ver)]
                        for v in VERDICTS}
    print("per label (verified):  " + ", ".join(f"{v} {a}/{b}" for v, (a, b) in out["per_label"].items()))
    conf = defaultdict(int)
    for r in ver:
        conf[(r["label"], r["verdict"])] += 1
    out["confusion"] = {f"{a} -> {b}": n for (a, b), n in sorted(conf.items())}
    print("confusion (verified):  " + "; ".join(f"{k}: {n}" for k, n in out["confusion"].items() if k.split(' -> ')[0] != k.split(' -> ')[1]))
    table = []
    for lo, hi in BINS:
        sel = [r for r in ver if lo <= r["confidence"] < hi]
        if sel:
            table.append({"confidence": f"[{lo:.2f}, {min(hi, 1.0):.2f}{']' if hi > 1 else ')'}", "verdicts": len(sel),
                          "right": right(sel), "share_right": round(right(sel) / len(sel), 3),
                          "mean_confidence": round(sum(r["confidence"] for r in sel) / len(sel), 3)})
    out["reliability"] = table
    print("reliability (verified runs):")
    for t in table:
        print(f"   {t['confidence']:>14s}  {t['verdicts']:4d} verdicts  {t['right']:4d} right ({t['share_right']:.1%})  "
              f"mean confidence {t['mean_confidence']:.3f}")
    high = [r for r in ver if r["confidence"] >= 0.9]
    out["confident"] = [right(high), len(high)]
    print(f"confidence >= 0.9: {right(high)}/{len(high)} right ({right(high) / max(len(high), 1):.1%})")
    wrong = [r for r in ver if r["verdict"] != r["label"]]
    named = [r for r in wrong if r["alternative"]]
    out["runner_up"] = {"wrong": len(wrong), "named": len(named), "right": sum(r["alternative"] == r["label"] for r in named),
                        "named_when_right": sum(1 for r in ver if r["verdict"] == r["label"] and r["alternative"])}
    print(f"wrong verdicts: {len(wrong)}; a runner-up named in {len(named)}, and it is the right verdict in "
          f"{out['runner_up']['right']}; a runner-up named beside {out['runner_up']['named_when_right']} right verdicts")
    for r in wrong:
        print(f"   {r['run']:30s} {r['label']:28s} -> {r['verdict']:28s} conf {r['confidence']:.2f} "
              f"alt {r['alternative']} ({r['variant']})")
    return out


if __name__ == "__main__":
    sys.exit(main())
