"""How far can the shipped inputs go?  The scorer's inputs on the verified development runs, read by models of
different kinds and under different splits (development only; scikit-learn).

* in-sample: a logistic model fitted on all verified runs and scored on them - an upper bound for a linear reading;
* random 5-fold: runs of every family on both sides of the split - what the inputs allow when the family is known;
* leave one family out: the logistic model (as shipped: the cascade's verdict one-hot among the inputs, the
  scorer's verdict, no override) against gradient-boosted trees, a random forest and extra trees.

If nonlinear models do no better than the logistic one when a family is left out, and the logistic one reads
only a few points more when the family was seen, the limit is the information in the curves, not the model.

    python bench/diagnose_corpus/ceiling.py [--inputs accuracy]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import DEVELOPMENT_SETS, featurise, load_set  # noqa: E402
from select_method import inputs, raw_matrix  # noqa: E402

from gradwise.diagnose.thresholds import VERDICTS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", default="accuracy", help="an input set of select_method.INPUT_SETS")
    ap.add_argument("--c", type=float, default=1.0, help="the logistic model's L2 strength")
    args = ap.parse_args(argv)
    runs = []
    for s in DEVELOPMENT_SETS:
        runs += load_set(s)
    runs = [r for r in featurise(runs) if not r.error and r.features.has_validation and r.verified]
    x = raw_matrix(runs, inputs(args.inputs))
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    x = np.hstack([x, np.array([[r.reading.verdict == v for v in VERDICTS] for r in runs], dtype=float)])
    y = np.array([VERDICTS.index(r.label) for r in runs])
    families = np.array([r.family for r in runs])
    print(f"{len(runs)} verified development runs, {len(set(families))} families, inputs '{args.inputs}'")
    rules = np.mean([r.reading.verdict == r.label for r in runs])
    print(f"  the rule cascade alone:                       {rules:.3f}")
    logistic = lambda: LogisticRegression(C=args.c, max_iter=5000)  # noqa: E731
    print(f"  logistic, in-sample:                          {logistic().fit(x, y).score(x, y):.3f}")
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    print(f"  logistic, random 5-fold:                      {cross_val_score(logistic(), x, y, cv=folds).mean():.3f}")
    models = {"logistic": logistic,
              "gradient-boosted trees": lambda: HistGradientBoostingClassifier(learning_rate=0.1, max_iter=100,
                                                                               max_depth=3, random_state=0),
              "random forest": lambda: RandomForestClassifier(300, min_samples_leaf=2, random_state=0),
              "extra trees": lambda: ExtraTreesClassifier(300, min_samples_leaf=2, random_state=0)}
    for name, make in models.items():
        right = 0
        for fam in sorted(set(families)):
            out = families == fam
            right += int((make().fit(x[~out], y[~out]).predict(x[out]) == y[out]).sum())
        print(f"  {name + ', leave one family out:':46s}{right / len(y):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
