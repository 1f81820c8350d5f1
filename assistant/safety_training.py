"""Train the crisis and medical classifiers (the safety check's third layer) on the labelled
messages in eval/safety_set*.jsonl and the exemplars; run `python -m assistant.safety_training`
after any change to them. A test fails if the stored weights are out of date with their
training data.

`python -m assistant.safety_training --cv` reruns the cross-validation that chose the settings
below. Only the tuning parts are used: the held-out set (eval/safety_heldout.jsonl) never is.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .safety import (
    CLASSIFIER_FILE,
    CLASSIFIER_THRESHOLD,
    CLASSIFIER_THRESHOLD_MEDICAL,
    HERE,
    MEDICAL_THRESHOLD,
    SCOPE_CLASSIFIER_THRESHOLD,
    SCOPE_THRESHOLD_RECOVERY_WORD,
    SEMANTIC_FLOOR,
    SEMANTIC_MARGIN,
    WORD_SLOTS,
    Classifiers,
    SafetyChecker,
    load_everyday,
    load_exemplars,
    load_rules,
    meaning_text,
    normalise,
    strip_idioms,
    word_features,
)
from .settings import PROJECT_ROOT

TRAINING_FILES = ("safety_set.jsonl", "safety_set_v2.jsonl", "safety_set_v3.jsonl",
                  "safety_set_v4.jsonl", "safety_set_v5.jsonl", "safety_set_v6.jsonl",
                  "safety_set_v7.jsonl", "safety_set_v8.jsonl", "safety_set_v9.jsonl",
                  "safety_set_v10.jsonl", "safety_set_v11.jsonl", "safety_set_v12.jsonl",
                  "safety_set_v13.jsonl", "safety_set_v14.jsonl", "safety_set_v16.jsonl",
                  "safety_set_v17.jsonl", "safety_set_v15.jsonl", "safety_set_v19.jsonl",
                  "safety_set_v20.jsonl", "safety_set_v18.jsonl", "safety_set_v21.jsonl",
                  "safety_set_v22.jsonl", "safety_set_v23.jsonl", "safety_set_v24.jsonl",
                  "safety_set_v27.jsonl", "safety_set_v28.jsonl", "safety_set_v30.jsonl",
                  "safety_bank_ordinary.jsonl", "safety_bank_crisis_medical.jsonl",
                  "safety_bank2_ordinary.jsonl", "safety_bank2_crisis.jsonl",
                  "safety_bank3_ordinary.jsonl", "safety_bank3_crisis.jsonl",
                  "safety_bank4_ordinary.jsonl", "safety_bank4_crisis.jsonl",
                  "safety_bank5_ordinary.jsonl", "safety_bank5_crisis.jsonl",
                  "safety_bank6_ordinary.jsonl", "safety_bank6_medical.jsonl",
                  "safety_bank7_natural.jsonl", "safety_bank8_natural.jsonl",
                  "safety_bank9_natural.jsonl")
# The labelled sets written to measure (each a first contact once); the banks were written to
# train, so the report's tuning-set figures leave them out (tests/test_safety_cli.py checks
# every message of both).
LABELLED_SETS = tuple(name for name in TRAINING_FILES if name.startswith("safety_set"))

# Round 6, `--cv` (5 folds of the 1,174 tuning messages, three shuffles; the exemplars are
# always in the training folds; every text read as `meaning_text`). Area under the ROC curve,
# crisis against ordinary messages, by C and by the weight of the word features (0 = the
# embedding alone, as before round 6):
#
#   C \ word scale    0.0     1.0     2.0     3.0
#   2               0.9671  0.9881  0.9931  0.9937
#   4               0.9696  0.9896  0.9936  0.9940
#   8               0.9705  0.9904  0.9939  0.9940
#   16              0.9703  0.9908  0.9940  0.9941   <- the highest: C=16, scale 3
#   32              0.9687  0.9911  0.9939  0.9933
#
# The whole check with those settings, crisis recall / false alarms (ok and out-of-scope
# messages): in 5-fold cross-validation (patterns and exemplars as they are, the classifier's
# out-of-fold probability), and in replays of the last two first contacts (rules and exemplars
# of that commit, classifier trained only on the sets that existed then, scored on the new one):
#
#   threshold  5-fold        replay v4 (e41176c)  replay v5 (8ec9062)
#   0.25       1.000/0.060   1.000/0.102          1.000/0.149
#   0.3        1.000/0.051   1.000/0.091          1.000/0.149   <- chosen
#   0.35       1.000/0.039   0.988/0.091          0.988/0.149
#   0.4        1.000/0.035   0.975/0.080          0.988/0.149
#   0.5        1.000/0.019   0.963/0.068          0.988/0.092
#   0.6        1.000/0.010   0.963/0.068          0.975/0.092
#   0.7        0.998/0.006   0.963/0.068          0.975/0.092   (round 5's threshold)
#   0.9        0.990/0.006   0.925/0.045          0.963/0.092
#
# The replays matter: in the 5-fold figures the patterns have seen every message, so the
# classifier looks less needed than on a new set. With the embedding alone and round 5's
# settings (C=4, 0.7) the same replays gave 0.963/0.045 and 0.938/0.126. Medical questions sent
# to crisis (5-fold) at medical threshold 0.3: 0.034, 0.4: 0.011, 0.45: 0.006, 0.5 and up: 0.
# Hence, in round 6, CLASSIFIER_THRESHOLD 0.3 and CLASSIFIER_THRESHOLD_MEDICAL 0.5.
#
# Round 10, `--cv` again (2,047 tuning messages, v1-v9, after the round-10 rules): AUC
#
#   C \ word scale    0.0     1.0     2.0     3.0
#   8               0.9752  0.9931  0.9950  0.9947   <- the highest: C=8, scale 2
#   16              0.9758  0.9935  0.9949  0.9948
#
#   threshold  5-fold        replay v4            replay v5
#   0.3        1.000/0.052   1.000/0.091          1.000/0.161
#   0.35       1.000/0.044   1.000/0.091          1.000/0.149   <- chosen (the same rule)
#   0.4        1.000/0.033   0.975/0.080          1.000/0.149
#   0.5        0.999/0.019   0.975/0.068          0.988/0.126
#
# Medical questions sent to crisis (5-fold) at medical threshold 0.35: 0.042, 0.5: 0.030,
# 0.7 and up: 0.024, crisis recall 1.000 throughout. Before the round-10 crisis families, the
# same rule gave 0.2: two crisis messages that no pattern named needed it; the families were
# added instead (see eval/README.md). With v10 folded in (2,276 messages) the grid's maximum
# moved to C=32, scale 3 (0.9951 against 0.9949 for C=8, scale 2: within AUC_NOISE, so the
# setting in use stays), and the thresholds came out 0.35 again (5-fold 1.000/0.043, replays
# 1.000/0.091 and 1.000/0.149; at 0.4 a replay missed one) and 0.65 for medical questions
# (0.029 of them sent to crisis, as at every higher threshold).
#
# Round 11 folded in (2,510 messages) with the everyday negatives (safety_everyday.yaml) in
# every fold: AUC 0.9945 for C=8, scale 2 (the best, 0.9948, within AUC_NOISE), and
#
#   threshold  5-fold        replay v4            replay v5
#   0.25       1.000/0.063   1.000/0.114          1.000/0.161   <- chosen
#   0.3        0.999/0.050   1.000/0.091          1.000/0.161
#   0.35       0.998/0.043   1.000/0.091          1.000/0.149
#
# Medical questions sent to crisis at medical threshold 0.25: 0.083, 0.5: 0.058, 0.85: 0.051
# (crisis recall 1.000; at 0.9 it fell to 0.999). Hence 0.25 and 0.85. The everyday negatives
# lower the classifier's probabilities overall, so the same rule asks for a lower threshold.
#
# Round 12 folded in (2,749 messages): AUC 0.9946 for C=8, scale 2 (best 0.9952, within
# AUC_NOISE); threshold 0.2 (5-fold 1.000/0.073, replays 1.000/0.125 and 1.000/0.161; at 0.25
# the 5-fold missed one) and 0.85 for medical questions (0.054 of them sent to crisis, crisis
# recall 1.000). Each round has added crisis messages that only the classifier catches, and the
# rule has followed them down: 0.35, 0.25, 0.2.
#
# Round 17 (5,391 messages: v1-v17 and the two training banks, words hashed into 2^17 slots):
# AUC 0.9887 for C=8, scale 2 (best 0.9891, C=8 scale 3, within AUC_NOISE). Two more replays,
# of the last two first contacts (v13 on the rules of 142f4f5, v14 on those of 0f5fc3d):
#
#   threshold  5-fold        replay v4     replay v5     replay v13    replay v14
#   0.2        0.992/0.140   1.000/0.148   1.000/0.172   0.977/0.200   0.989/0.296   <- chosen
#   0.3        0.988/0.109   1.000/0.102   1.000/0.149   0.977/0.190   0.989/0.265
#   0.4        0.986/0.083   0.988/0.080   0.988/0.138   0.977/0.180   0.989/0.224
#   0.5        0.981/0.068   0.988/0.068   0.988/0.126   0.977/0.150   0.989/0.214
#
# The banks hold crisis messages written to avoid every obvious word, so the 5-fold figures
# are lower than before and no threshold in the grid finds them all; 0.2 is its floor (below it
# the 5-fold false alarms pass one in seven). The medical threshold is now chosen among those
# that keep crisis recall at its best (0.992 up to 0.45): 0.45, sending 0.080 of medical
# questions to crisis.
#
# Round 18 (9,778 messages: v1-v20 and six training banks): AUC 0.9908 for C=8, scale 2 (best
# 0.9913, C=8 scale 3, within AUC_NOISE).
#
#   threshold  5-fold        replay v4     replay v5     replay v13    replay v14
#   0.2        0.990/0.107   1.000/0.148   1.000/0.172   0.977/0.200   0.989/0.286   <- chosen
#   0.3        0.987/0.084   1.000/0.102   1.000/0.149   0.977/0.190   0.989/0.255
#   0.4        0.984/0.067   0.988/0.080   0.988/0.138   0.977/0.180   0.989/0.214
#   0.5        0.975/0.054   0.988/0.068   0.988/0.126   0.977/0.150   0.989/0.194
#
# The banks took 5-fold false alarms at 0.2 from 0.140 to 0.107. Crisis recall was at its best
# (0.990) for medical thresholds up to 0.35 and fell after; 0.35 sends 0.073 of medical
# questions to crisis (0.45 sent 0.069).
#
# Round 25 (12,575 messages: v1-v24 and eight banks, two of them ordinary traffic): AUC 0.9914
# for C=8, scale 2 (best 0.9921, C=8 scale 3, within AUC_NOISE); about 18 minutes here.
#
#   threshold  5-fold        replay v4     replay v5     replay v13    replay v14
#   0.2        0.990/0.106   1.000/0.148   1.000/0.172   0.977/0.200   0.989/0.286   <- chosen
#   0.25       0.988/0.095   1.000/0.125   1.000/0.149   0.977/0.200   0.989/0.255
#   0.3        0.985/0.085   1.000/0.102   1.000/0.149   0.977/0.190   0.989/0.255
#   0.35       0.982/0.077   0.988/0.080   0.988/0.149   0.977/0.180   0.989/0.224
#
# Crisis recall stayed at its best (0.990) for medical thresholds up to 0.4, which sends 0.072
# of medical questions to crisis (0.35 sent 0.075): the bar when a medical rule matched is 0.4.
#
# Round 28 (14,010 messages: v1-v30 and nine banks, three of them ordinary traffic): AUC 0.9921
# for C=8, scale 2 (best 0.9926, C=8 or 16 scale 3, within AUC_NOISE).
#
#   threshold  5-fold        replay v4     replay v5     replay v13    replay v14
#   0.2        0.991/0.108   1.000/0.148   1.000/0.172   0.977/0.200   0.989/0.286   <- chosen
#   0.25       0.990/0.094   1.000/0.125   1.000/0.149   0.977/0.200   0.989/0.255
#   0.3        0.987/0.085   1.000/0.102   1.000/0.149   0.977/0.190   0.989/0.255
#   0.35       0.984/0.077   0.988/0.080   0.988/0.149   0.977/0.180   0.989/0.224
#
# Crisis recall was at its best (0.991) for medical thresholds up to 0.25 only: from 0.3 one more
# crisis message that matched a medical rule was missed. 0.25 sends 0.072 of medical questions
# to crisis (0.4 sent 0.064): the bar when a medical rule matched goes down to 0.25.
REGULARISATION_C = 8.0
MEDICAL_C = 16.0
# `--cv-scope` (5-fold, two shuffles, v1-v17 and both banks): share of ok and out-of-scope
# messages routed right at threshold 0.5: C=1 0.982, C=4 0.983, C=16 0.983 (0.957 of
# out-of-scope found, 0.009 of ordinary sent there); for C=16 at 0.7, 0.980 (0.937, 0.006); at
# 0.3, 0.982 (0.964, 0.012). On v1-v16 and the first bank C=16 was the best (0.985), so it stays.
SCOPE_C = 16.0
# Weight of the word features against the embedding (both have unit length).
WORD_SCALE = 2.0
CV_GRID_C = (2.0, 4.0, 8.0, 16.0, 32.0)
AUC_NOISE = 0.001
CV_GRID_SCALE = (0.0, 1.0, 2.0, 3.0)


def training_data(eval_dir: Path = PROJECT_ROOT / "eval") -> tuple[list[str], list[str]]:
    """Every tuning message and exemplar with its category. The exemplars ("crisis" and
    "exemplar") train only the crisis classifier: some ordinary exemplars are medical questions
    written to teach it what is not a crisis. The everyday messages (safety_everyday.yaml) are
    negatives for both."""
    rows = tuning_messages(eval_dir)
    crisis, ordinary = load_exemplars()
    everyday = load_everyday()
    return ([r["text"] for r in rows] + crisis + ordinary + everyday,
            [r["label"] for r in rows] + ["crisis"] * len(crisis) + ["exemplar"] * len(ordinary)
            + ["everyday"] * len(everyday))


def crisis_target(categories: list[str]) -> np.ndarray:
    return np.array([c == "crisis" for c in categories])


def medical_rows(categories: list[str]) -> np.ndarray:
    """The medical classifier learns medical questions against ordinary and out-of-scope ones;
    crisis messages are the crisis layers' business."""
    return np.isin(categories, ["medical", "ok", "out_of_scope", "everyday"])


def scope_rows_of(categories: list[str]) -> np.ndarray:
    """The scope classifier learns out-of-scope questions against ordinary ones."""
    return np.isin(categories, ["ok", "out_of_scope"])


def tuning_messages(eval_dir: Path = PROJECT_ROOT / "eval") -> list[dict]:
    return [row for name in TRAINING_FILES for row in _rows(name, eval_dir)]


def data_hash(texts: list[str], categories: list[str], model: str) -> str:
    digest = hashlib.sha256(model.encode())
    digest.update(f"words+pairs:{WORD_SLOTS}x{WORD_SCALE};C={REGULARISATION_C};"
                  f"medical C={MEDICAL_C};scope C={SCOPE_C}\n".encode())
    for text, category in zip(texts, categories, strict=True):
        digest.update(f"{category}\t{text}\n".encode())
    digest.update((HERE / "safety_exemplars.yaml").read_bytes())
    digest.update((HERE / "safety_everyday.yaml").read_bytes())
    digest.update((HERE / "safety_rules.yaml").read_bytes())  # the idioms shape what it reads
    return digest.hexdigest()[:16]


def features(vectors, texts: list[str], scale: float = WORD_SCALE):
    """`texts` and `vectors` are of `meaning_text`, as the check reads them. Sparse rows: the
    word slots are mostly empty."""
    from scipy import sparse

    if scale == 0:
        return sparse.csr_matrix(vectors)
    return sparse.hstack([sparse.csr_matrix(vectors), scale * word_features(texts)]).tocsr()


def _stack(*blocks):
    from scipy import sparse

    return sparse.vstack(blocks).tocsr()


def _read(texts: list[str]) -> list[str]:
    rules = load_rules()
    return [meaning_text(t, rules) for t in texts]


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    model.fit(x, y)
    return model.coef_[0], float(model.intercept_[0])


def _probability(x: np.ndarray, coef: np.ndarray, bias: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(x @ coef + bias)))


def train(out: Path = CLASSIFIER_FILE) -> dict:
    from .embeddings import Embedder

    embedder = Embedder.from_settings(None)
    texts, categories = training_data()
    read = _read(texts)
    x = features(embedder.encode(read), read)
    y = crisis_target(categories)
    coef, bias = _fit(x, y, REGULARISATION_C)
    labels = np.array(categories)
    rows = medical_rows(categories)
    medical = labels[rows] == "medical"
    m_coef, m_bias = _fit(x[rows], medical, MEDICAL_C)
    scope_rows = scope_rows_of(categories)
    s_coef, s_bias = _fit(x[scope_rows], labels[scope_rows] == "out_of_scope", SCOPE_C)
    dim = embedder.dimension
    np.savez_compressed(out, weights=coef[:dim].astype(np.float32),
                        word_weights=(WORD_SCALE * coef[dim:]).astype(np.float32),
                        bias=np.float32(bias),
                        medical_weights=m_coef[:dim].astype(np.float32),
                        medical_word_weights=(WORD_SCALE * m_coef[dim:]).astype(np.float32),
                        medical_bias=np.float32(m_bias),
                        scope_weights=s_coef[:dim].astype(np.float32),
                        scope_word_weights=(WORD_SCALE * s_coef[dim:]).astype(np.float32),
                        scope_bias=np.float32(s_bias),
                        data_hash=np.array(data_hash(texts, categories, embedder.model_id)))
    return {"examples": len(texts), "crisis": int(y.sum()), "medical": int(medical.sum()),
            "out_of_scope": int((labels == "out_of_scope").sum()),
            "medical_against": int(rows.sum() - medical.sum()), "file": str(out)}


# -- cross-validation -------------------------------------------------------------------------

@dataclass
class _Tuning:
    """The tuning messages with their embeddings, and the exemplars (always trained on)."""

    texts: list[str]
    labels: np.ndarray  # "crisis", "medical", "ok", "out_of_scope"
    vectors: np.ndarray
    extra_texts: list[str]
    extra_vectors: np.ndarray
    extra_y: np.ndarray

    @property
    def y(self) -> np.ndarray:
        return (self.labels == "crisis").astype(int)


def _folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), dtype=int)
    for label in (0, 1):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        fold[idx] = np.arange(len(idx)) % k
    return fold


def _trained_apart(data: _Tuning, groups: np.ndarray, c: float,
                   scale: float = WORD_SCALE) -> np.ndarray:
    """Each group's crisis probabilities from a classifier trained on every other message and
    the exemplars; messages in group -1 are always trained on and get nan."""
    x = features(data.vectors, data.texts, scale)
    x_extra = features(data.extra_vectors, data.extra_texts, scale)
    prob = np.full(len(data.texts), np.nan)
    for group in np.unique(groups[groups >= 0]):
        out = groups == group
        coef, bias = _fit(_stack(x[~out], x_extra),
                          np.concatenate([data.y[~out], data.extra_y]), c)
        prob[out] = _probability(x[out], coef, bias)
    return prob


def _out_of_fold(data: _Tuning, c: float, scale: float, seed: int, k: int = 5) -> np.ndarray:
    return _trained_apart(data, _folds(data.y, k, seed), c, scale)


def _always_trained() -> tuple[list[str], np.ndarray]:
    """The exemplars and everyday messages, as read, with the crisis target: in every fold."""
    crisis, ordinary = load_exemplars()
    everyday = load_everyday()
    return (_read(crisis + ordinary + everyday),
            np.array([1] * len(crisis) + [0] * (len(ordinary) + len(everyday))))


def _auc(p: np.ndarray, positive: np.ndarray) -> float:
    ranks = np.argsort(np.argsort(p)) + 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def cross_validate(seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    from .embeddings import Embedder

    embedder = Embedder.from_settings(None)
    rows = tuning_messages()
    texts = [r["text"] for r in rows]
    read, (extra, extra_y) = _read(texts), _always_trained()
    data = _Tuning(read, np.array([r["label"] for r in rows]), embedder.encode(read),
                   extra, embedder.encode(extra), extra_y)
    scored = data.labels != "medical"
    print("AUC, crisis against ordinary messages (mean of the shuffles)")
    print("C \\ word scale " + "".join(f"{s:>8}" for s in CV_GRID_SCALE))
    grid = {}
    for c in CV_GRID_C:
        for s in CV_GRID_SCALE:
            grid[c, s] = np.mean([_auc(_out_of_fold(data, c, s, seed)[scored],
                                       data.y[scored] == 1) for seed in seeds])
        print(f"{c:<15}" + "".join(f"{grid[c, s]:8.4f}" for s in CV_GRID_SCALE), flush=True)
    # The rule: the highest area, unless the setting in use is within AUC_NOISE of it (the grid
    # is flat near the top and its maximum moves with the data by more than that).
    c, s = max(grid, key=grid.get)
    if grid.get((REGULARISATION_C, WORD_SCALE), 0.0) >= grid[c, s] - AUC_NOISE:
        c, s = REGULARISATION_C, WORD_SCALE
    print(f"chosen: C={c}, word scale {s} (in use: C={REGULARISATION_C}, {WORD_SCALE})")

    # The whole check with those settings: patterns and exemplars as they are, and the
    # classifier's out-of-fold probability, at each threshold.
    checker = SafetyChecker(encode=embedder.encode, with_classifier=False)
    flagged = np.array([checker.check(t).category == "crisis" for t in texts])
    medical = np.array([bool(_medical_match(checker, t)) for t in texts])
    prob = np.mean([_out_of_fold(data, c, s, seed) for seed in seeds], axis=0)
    thresholds = [round(0.2 + 0.05 * i, 2) for i in range(15)]
    cv = {t: _rates(data.labels, flagged, medical, prob, t, t) for t in thresholds}
    print(f"\nC={c}, word scale {s}; crisis recall / false alarms of the whole check")
    print(f"{'threshold':<10}{'5-fold':>14}" + "".join(f"  replay {f}" for _, _, f in REPLAYS))
    # In the 5-fold figures the patterns have seen every message they are scored on, so they
    # look stronger than on a new set; the replays score a set the patterns had not seen.
    replays = [_replay(embedder, rev, trained_on, scored, c, s, thresholds)
               for rev, trained_on, scored in REPLAYS]
    for t in thresholds:
        cells = [cv[t][:2], *(r[t] for r in replays if r)]
        print(f"{t:<10}" + "".join(f"{a:>8.3f}/{b:.3f}" + " " * 14 for a, b in cells))
    # The rule: the highest threshold that still finds as many crisis messages as any lower one,
    # in the 5-fold figures and in each replay; then the lowest medical threshold (from there
    # up) that sends no more medical questions to crisis than the highest would.
    tables = [{t: v[0] for t, v in cv.items()}] + [{t: v[0] for t, v in r.items()}
                                                   for r in replays if r]
    chosen = max(t for t in thresholds if all(tab[t] == max(tab.values()) for tab in tables))
    print(f"chosen threshold: {chosen}")
    print("medical threshold  medical questions flagged as crisis  crisis recall")
    medical_grid = [t for t in thresholds if t >= chosen]
    by_medical = {m: _rates(data.labels, flagged, medical, prob, chosen, m) for m in medical_grid}
    for m, (recall, _, to_crisis) in by_medical.items():
        print(f"{m:<18} {to_crisis:36.3f} {recall:14.3f}")
    # Among the medical thresholds that keep crisis recall at its best (a crisis message can
    # match a medical pattern: "how much would stop my heart"), the lowest that sends no more
    # medical questions to crisis than the highest of them.
    best = max(v[0] for v in by_medical.values())
    safe = {m: v for m, v in by_medical.items() if v[0] == best}
    floor = safe[max(safe)][2]
    print(f"chosen medical threshold: {min(m for m, v in safe.items() if v[2] <= floor)}")
    print(f"(in use: {CLASSIFIER_THRESHOLD}, medical {CLASSIFIER_THRESHOLD_MEDICAL})")


# -- the medical classifier ---------------------------------------------------------------------

# Round 10, `--cv-medical` (the 2,047 tuning messages of v1-v9; the replay trains both
# classifiers on v1-v8 and scores v9). AUC, medical against ordinary and out-of-scope, 5-fold:
# C=1 0.9986, C=4 0.9988, C=16 0.9989 (chosen). The whole check, medical recall / medical sent
# to crisis / ordinary sent to medical / crisis recall (the crisis classifier out-of-fold too).
# First run, with the rules as they were before round 10 touched them:
#
#   threshold  5-fold                    replay v9
#   0.5        0.967/0.030/0.016/0.993   0.868/0.132/0.033/0.964
#   0.6        0.967/0.030/0.014/0.993   0.868/0.132/0.022/0.964   <- chosen: the lowest at
#   0.7        0.961/0.030/0.013/0.993   0.868/0.132/0.022/0.964      which the replay sent no
#   0.8        0.952/0.030/0.009/0.993   0.842/0.132/0.022/0.964      more ordinary questions
#   off        0.898/0.039/0.008/0.993   0.579/0.184/0.022/0.964      to a clinician than off
#
# When a message the classifier routes also raised the crisis classifier's bar (to 0.5, as a
# medical pattern does), medical recall rose further (replay 0.895) but crisis recall fell
# (5-fold 0.989, replay 0.952), so it raises only the semantic layer's bar. The semantic
# layer's floor on the crisis classifier's probability (same columns):
#
#   floor         5-fold                    replay v9
#   (0, 0)        0.964/0.033/0.007/0.996   0.868/0.132/0.000/1.000
#   (0, 0.05)     0.967/0.030/0.007/0.996   0.895/0.105/0.000/1.000
#   (0, 0.1)      0.973/0.024/0.007/0.996   0.921/0.079/0.000/1.000   <- chosen
#   (0, 0.3)      0.976/0.021/0.007/0.996   0.921/0.079/0.000/1.000
#   (0.05, 0.1)   0.973/0.024/0.007/0.995   0.921/0.079/0.000/1.000
#
# 0.1, not 0.3: the smallest floor that gave the replay's gain, since the floor switches the
# semantic layer off for the messages under it. Any floor for other messages lost a crisis.
# Round 18 (v1-v20 and six banks): C=16 (AUC 0.9984); 5-fold at 0.4 0.937/0.053/0.018/0.990,
# at 0.6 0.934/0.053/0.016/0.990, off 0.667/0.069/0.010; the replay of v9 (stale: the rules have
# long seen it) sends no ordinary question to a clinician from 0.4 up, so 0.6 stays. Floors:
# (0.05, 0.1) cut 5-fold false alarms from 0.107 to 0.102 at the same crisis recall (0.990);
# (0.1, 0.1) lost crisis messages (0.989). The floor for every message stays 0 (see safety.py).
# Rerun with the final round-10 rules and settings (the replay is no longer clean: the rules
# have now seen v9): at 0.6, 5-fold 0.988/0.009/0.007/1.000, off 0.913/0.021/0.001/1.000; floor
# (0.05, 0.1) still lost a crisis message (0.999).
MEDICAL_GRID_C = (1.0, 4.0, 16.0)
SEMANTIC_FLOORS = ((0.0, 0.0), (0.0, 0.1), (0.05, 0.1), (0.1, 0.1), (0.2, 0.2), (0.3, 0.3))
MEDICAL_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
# The last first contact, replayed for the medical classifier: trained on the sets before it,
# scored on it with today's rules (the medical rules had not been changed for it).
MEDICAL_REPLAY = "safety_set_v9.jsonl"


class _Fixed(Classifiers):
    """Probabilities looked up by the text the check reads: out-of-fold ones, in the CV."""

    def __init__(self, table: dict[str, tuple[float, float]]):
        object.__setattr__(self, "table", table)

    @property
    def active(self) -> bool:
        return True

    def probabilities(self, text: str, vector: np.ndarray) -> tuple[float, float, float]:
        return (*self.table[text], 0.0)


def _plain_out_of_fold(x, y: np.ndarray, c: float, seed: int, k: int = 5) -> np.ndarray:
    """Out-of-fold probabilities of a classifier trained on these rows alone."""
    fold, prob = _folds(y.astype(int), k, seed), np.zeros(len(y))
    for i in range(k):
        coef, bias = _fit(x[fold != i], y[fold != i], c)
        prob[fold == i] = _probability(x[fold == i], coef, bias)
    return prob


def _medical_out_of_fold(x: np.ndarray, categories: np.ndarray, c: float, seed: int,
                         k: int = 5) -> np.ndarray:
    """Out-of-fold probabilities for the rows the medical classifier learns from; crisis rows
    (never trained on) get the probability of a model trained on all of them."""
    rows = np.flatnonzero(medical_rows(list(categories)))
    y = categories[rows] == "medical"
    prob = np.zeros(len(categories))
    prob[rows] = _plain_out_of_fold(x[rows], y, c, seed, k)
    coef, bias = _fit(x[rows], y, c)
    others = np.setdiff1d(np.arange(len(categories)), rows)
    prob[others] = _probability(x[others], coef, bias)
    return prob


def _whole_check(embedder, texts: list[str], read: list[str], crisis_p: np.ndarray,
                 medical_p: np.ndarray, threshold: float,
                 floor: tuple[float, float] | None = None,
                 margin: float = SEMANTIC_MARGIN) -> np.ndarray:
    table = {r: (float(a), float(b)) for r, a, b in zip(read, crisis_p, medical_p, strict=True)}
    checker = SafetyChecker(encode=embedder.encode, classifiers=_Fixed(table),
                            medical_threshold=threshold, semantic_floor=floor, margin=margin)
    return np.array([checker.check(t).category for t in texts])


def _medical_rates(labels: np.ndarray, predicted: np.ndarray) -> tuple[float, ...]:
    """Medical recall, medical sent to crisis, ordinary sent to medical, crisis recall, ordinary
    sent to crisis (false alarms)."""
    ordinary = np.isin(labels, ["ok", "out_of_scope"])
    return (float((predicted[labels == "medical"] == "medical").mean()),
            float((predicted[labels == "medical"] == "crisis").mean()),
            float((predicted[ordinary] == "medical").mean()),
            float((predicted[labels == "crisis"] == "crisis").mean()),
            float((predicted[ordinary] == "crisis").mean()))


def cross_validate_medical(seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    """AUC of the medical classifier by C, then the whole check (with the crisis classifier's
    out-of-fold probability) at each medical threshold, in 5-fold CV and in a replay."""
    from .embeddings import Embedder

    embedder = _cached(Embedder.from_settings(None))
    rows = tuning_messages()
    texts = [r["text"] for r in rows]
    read = _read(texts)
    labels = np.array([r["label"] for r in rows])
    x = features(embedder.encode(read), read)
    scored = medical_rows(list(labels))
    print("AUC, medical against ordinary and out-of-scope (5-fold, mean of the shuffles)")
    auc = {c: np.mean([_auc(_medical_out_of_fold(x, labels, c, seed)[scored],
                            labels[scored] == "medical") for seed in seeds])
           for c in MEDICAL_GRID_C}
    for c, a in auc.items():
        print(f"  C={c:<6} {a:.4f}")
    c = max(auc, key=auc.get)
    print(f"chosen: C={c} (in use: {MEDICAL_C})")
    extra, extra_y = _always_trained()
    data = _Tuning(read, labels, x[:, :embedder.dimension].toarray(), extra, embedder.encode(extra),
                   extra_y)
    crisis_p = np.mean([_out_of_fold(data, REGULARISATION_C, WORD_SCALE, s) for s in seeds], 0)
    medical_p = np.mean([_medical_out_of_fold(x, labels, c, s) for s in seeds], axis=0)

    replay_rows = _rows(MEDICAL_REPLAY)
    before = [r for r in rows if r["id"] not in {q["id"] for q in replay_rows}]
    b_read = _read([r["text"] for r in before])
    b_labels = np.array([r["label"] for r in before])
    b_x = features(embedder.encode(b_read), b_read)
    r_texts = [r["text"] for r in replay_rows]
    r_read = _read(r_texts)
    r_x = features(embedder.encode(r_read), r_read)
    b_rows = medical_rows(list(b_labels))
    m_coef, m_bias = _fit(b_x[b_rows], b_labels[b_rows] == "medical", c)
    c_coef, c_bias = _fit(_stack(b_x, features(data.extra_vectors, extra)),
                          np.concatenate([b_labels == "crisis", data.extra_y == 1]),
                          REGULARISATION_C)
    r_labels = np.array([r["label"] for r in replay_rows])
    r_crisis = _probability(r_x, c_coef, c_bias)
    r_medical = _probability(r_x, m_coef, m_bias)

    def cells(threshold: float, floor: tuple[float, float] | None = None) -> str:
        cv = _whole_check(embedder, texts, read, crisis_p, medical_p, threshold, floor)
        rp = _whole_check(embedder, r_texts, r_read, r_crisis, r_medical, threshold, floor)
        return "  ".join("/".join(f"{v:.3f}" for v in _medical_rates(truth, predicted))
                         for truth, predicted in ((labels, cv), (r_labels, rp)))

    print("\nthe whole check: medical recall / medical to crisis / ordinary to medical / "
          "crisis recall / false alarms")
    print(f"{'threshold':<10}{'5-fold':>30}   replay {MEDICAL_REPLAY}")
    for t in (*MEDICAL_THRESHOLDS, 1.01):
        print(f"{'off' if t > 1 else t!s:<10}" + cells(t), flush=True)
    print(f"(in use: {MEDICAL_THRESHOLD})")
    print(f"\nat {MEDICAL_THRESHOLD}, by the semantic layer's floor (any message, medical ones)")
    for floor in SEMANTIC_FLOORS:
        print(f"{floor!s:<12}" + cells(MEDICAL_THRESHOLD, floor), flush=True)
    print(f"(in use: {SEMANTIC_FLOOR})")


# -- the semantic layer ------------------------------------------------------------------------

SEMANTIC_MARGINS = (0.05, 0.1, 0.15, 0.2)
# The blind first contacts since round 13, in the order they were folded in.
LEFT_OUT_ROUNDS = ("safety_set_v13.jsonl", "safety_set_v14.jsonl", "safety_set_v16.jsonl",
                   "safety_set_v17.jsonl", "safety_set_v15.jsonl", "safety_set_v19.jsonl",
                   "safety_set_v20.jsonl", "safety_set_v18.jsonl", "safety_set_v21.jsonl",
                   "safety_set_v22.jsonl", "safety_set_v23.jsonl", "safety_set_v24.jsonl",
                   "safety_set_v27.jsonl", "safety_set_v28.jsonl", "safety_set_v30.jsonl")


def _left_out(data: _Tuning, files: np.ndarray) -> np.ndarray:
    """The crisis probability of each first-contact round's messages from a classifier trained
    on every other message: nearer to a new set than random folds, since one writer wrote each
    round in one style. (Other messages get nan.)"""
    groups = np.array([LEFT_OUT_ROUNDS.index(f) if f in LEFT_OUT_ROUNDS else -1 for f in files])
    return _trained_apart(data, groups, REGULARISATION_C)


def cross_validate_semantic(seed: int = 0) -> None:
    """The semantic layer's margin: crisis messages missed and false alarms of the whole check,
    with the crisis classifier's out-of-fold probability (5-fold) and its left-out-round one."""
    from .embeddings import Embedder

    embedder = _cached(Embedder.from_settings(None))
    named_rows = [(name, row) for name in TRAINING_FILES for row in _rows(name)]
    files = np.array([name for name, _ in named_rows])
    rows = [row for _, row in named_rows]
    texts = [r["text"] for r in rows]
    read, (extra, extra_y) = _read(texts), _always_trained()
    labels = np.array([r["label"] for r in rows])
    data = _Tuning(read, labels, embedder.encode(read), extra, embedder.encode(extra), extra_y)
    medical_p = _medical_out_of_fold(features(data.vectors, read), labels, MEDICAL_C, seed)
    views = {"5-fold": (_out_of_fold(data, REGULARISATION_C, WORD_SCALE, seed),
                        np.ones(len(rows), dtype=bool)),
             "left-out rounds": (_left_out(data, files), np.isin(files, LEFT_OUT_ROUNDS))}
    crisis, ordinary = labels == "crisis", np.isin(labels, ["ok", "out_of_scope"])
    print("the whole check: crisis messages missed / false alarms")
    print(f"{'margin':<8}" + "".join(f"{name:>24}" for name in views))
    missed: dict[str, dict[float, int]] = {name: {} for name in views}
    for margin in SEMANTIC_MARGINS:
        cells = []
        for name, (crisis_p, scored) in views.items():
            keep = np.flatnonzero(scored)
            predicted = _whole_check(embedder, [texts[i] for i in keep], [read[i] for i in keep],
                                     np.nan_to_num(crisis_p[keep]), medical_p[keep],
                                     MEDICAL_THRESHOLD, margin=margin) == "crisis"
            missed[name][margin] = int((~predicted[crisis[keep]]).sum())
            cells.append(f"{missed[name][margin]:>12}/{predicted[ordinary[keep]].mean():.3f}")
        print(f"{margin:<8}" + "".join(f"{c:>24}" for c in cells), flush=True)
    # The rule: the widest margin that misses no crisis message that a narrower one finds.
    chosen = max(m for m in SEMANTIC_MARGINS
                 if all(v[m] == min(v.values()) for v in missed.values()))
    print(f"chosen margin: {chosen} (in use: {SEMANTIC_MARGIN})")


SCOPE_GRID_C = (1.0, 4.0, 16.0)
SCOPE_THRESHOLDS = (0.3, 0.5, 0.7)
SCOPE_THRESHOLDS_RECOVERY_WORD = (1.01, 0.99, 0.97, 0.95, 0.9, 0.8)


def cross_validate_scope(seeds: tuple[int, ...] = (0, 1)) -> None:
    """The scope classifier in 5-fold CV on the ok and out-of-scope tuning messages, as the check
    uses it: out of scope when an out-of-scope pattern matches, or when no recovery word does
    and the classifier is at or above the threshold."""
    from .embeddings import Embedder

    embedder = Embedder.from_settings(None)
    messages = tuning_messages()
    rows = [r for r, keep in zip(messages, scope_rows_of([r["label"] for r in messages]),
                                 strict=True) if keep]
    texts = [r["text"] for r in rows]
    read = _read(texts)
    x = features(embedder.encode(read), read)
    y = np.array([r["label"] == "out_of_scope" for r in rows]).astype(int)
    rules = load_rules()
    named = np.array([any(p.search(normalise(t)) for p in rules.out_of_scope) for t in texts])
    in_scope = np.array([bool(rules.in_scope.search(normalise(t))) for t in texts])
    print("C     threshold  out-of-scope found  ordinary sent out of scope  right")
    by_c = {c: np.mean([_plain_out_of_fold(x, y, c, seed) for seed in seeds], axis=0)
            for c in {*SCOPE_GRID_C, SCOPE_C}}
    for c in SCOPE_GRID_C:
        prob = by_c[c]
        for t in SCOPE_THRESHOLDS:
            out = named | ((prob >= t) & ~in_scope)
            print(f"{c:<6}{t:<11}{out[y == 1].mean():<20.3f}{out[y == 0].mean():<28.3f}"
                  f"{(out == y).mean():.3f}", flush=True)
    print(f"(in use: C={SCOPE_C})")
    prob = by_c[SCOPE_C]
    print(f"\nC={SCOPE_C}, threshold {SCOPE_CLASSIFIER_THRESHOLD}; messages with a recovery word "
          "sent out of scope at or above")
    print("threshold  out-of-scope found  ordinary sent out of scope  right")
    for t in SCOPE_THRESHOLDS_RECOVERY_WORD:
        out = named | (prob >= np.where(in_scope, t, SCOPE_CLASSIFIER_THRESHOLD))
        print(f"{'never' if t > 1 else t!s:<11}{out[y == 1].mean():<20.3f}"
              f"{int(out[y == 0].sum()):<28}{(out == y).mean():.4f}", flush=True)
    print(f"(in use: {SCOPE_THRESHOLD_RECOVERY_WORD})")


def _cached(embedder):
    """The embedder with a memory of what it has encoded: the CV checks each text many times."""
    memo: dict[str, np.ndarray] = {}
    encode = embedder.encode

    def cached_encode(texts: list[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in memo]
        if new:
            memo.update(zip(new, encode(new), strict=True))
        return np.array([memo[t] for t in texts]).reshape(len(texts), -1)
    embedder.encode = cached_encode
    return embedder


def first_contact(path: Path) -> None:
    """Score a new labelled set once, the way the held-out figures in eval/README.md were taken:
    the whole check as the tests run it, after dropping messages already in the tuning sets."""
    from .evaluation import evaluate_safety
    from .pipeline import Pipeline
    from .settings import Settings

    seen = {row["text"].strip().lower() for row in tuning_messages()}
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    new = [row for row in rows if row["text"].strip().lower() not in seen]
    print(f"{len(rows) - len(new)} already in the tuning sets, {len(new)} scored")
    pipeline = Pipeline(Settings.from_env())

    def classify(text: str) -> str:
        similarity = float((pipeline.index.chunk_vectors @ pipeline.encode(text)).max())
        return pipeline.safety.check(text, corpus_similarity=similarity).category

    scores, misses = evaluate_safety(classify, new)
    print(json.dumps(scores["all"], indent=1))
    print(f"exact category {1 - len(misses) / max(len(new), 1):.3f}")
    for miss in misses:
        print(f"{miss['label']} -> {miss['predicted']} | {miss['id']} {miss['text']}")


def _rates(labels: np.ndarray, flagged: np.ndarray, medical: np.ndarray, prob: np.ndarray,
           t: float, t_medical: float) -> tuple[float, float, float]:
    """Crisis recall, false alarms (ok and out of scope) and medical questions sent to crisis."""
    crisis_now = flagged | (prob >= np.where(medical, max(t, t_medical), t))
    return (float(crisis_now[labels == "crisis"].mean()),
            float(crisis_now[np.isin(labels, ["ok", "out_of_scope"])].mean()),
            float(crisis_now[labels == "medical"].mean()))


# First contact of earlier rounds, replayed: the rules and exemplars as they were in that commit,
# the classifier trained on the sets that existed then, scored on the set that was then new.
REPLAYS = (("e41176c", 3, "safety_set_v4.jsonl"), ("8ec9062", 4, "safety_set_v5.jsonl"),
           ("142f4f5", 12, "safety_set_v13.jsonl"), ("0f5fc3d", 13, "safety_set_v14.jsonl"))


def _replay(embedder, rev: str, trained_on: int, scored: str, c: float, s: float,
            thresholds: list[float]) -> dict[float, tuple[float, float]] | None:
    import subprocess
    import tempfile

    import yaml

    def old(name: str) -> str:
        return subprocess.run(["git", "-C", str(PROJECT_ROOT), "show", f"{rev}:assistant/{name}"],
                              capture_output=True, text=True, check=True).stdout

    try:
        rules_text, exemplars_text = old("safety_rules.yaml"), old("safety_exemplars.yaml")
    except (OSError, subprocess.CalledProcessError):
        print(f"(replay of {scored} skipped: no git history for {rev})")
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(rules_text)
    rules = load_rules(Path(f.name))
    Path(f.name).unlink()
    exemplars = yaml.safe_load(exemplars_text)
    crisis, ordinary = list(exemplars["crisis"]), list(exemplars["not_crisis"])
    checker = SafetyChecker(encode=embedder.encode, rules=rules, with_classifier=False,
                            exemplars=(crisis, ordinary))
    train_rows = [r for name in TRAINING_FILES[:trained_on] for r in _rows(name)]
    test_rows = _rows(scored)
    train_texts = [meaning_text(r["text"], rules) for r in train_rows]
    train_texts += [meaning_text(t, rules) for t in crisis + ordinary]
    y = np.array([r["label"] == "crisis" for r in train_rows] + [True] * len(crisis)
                 + [False] * len(ordinary), dtype=int)
    coef, bias = _fit(features(embedder.encode(train_texts), train_texts, s), y, c)
    test_texts = [meaning_text(r["text"], rules) for r in test_rows]
    prob = _probability(features(embedder.encode(test_texts), test_texts, s), coef, bias)
    labels = np.array([r["label"] for r in test_rows])
    flagged = np.array([checker.check(r["text"]).category == "crisis" for r in test_rows])
    medical = np.array([bool(_medical_match(checker, r["text"])) for r in test_rows])
    return {t: _rates(labels, flagged, medical, prob, t, t)[:2] for t in thresholds}


def _rows(name: str, eval_dir: Path = PROJECT_ROOT / "eval") -> list[dict]:
    lines = (eval_dir / name).read_text("utf-8").splitlines()
    return [row for row in map(json.loads, lines) if row["split"] == "tune"]


def _medical_match(checker: SafetyChecker, text: str) -> bool:
    cleaned = strip_idioms(normalise(text), checker.rules)
    return any(p.search(cleaned) for rule in checker.rules.medical for p in rule.patterns)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", action="store_true", help="rerun the cross-validation")
    parser.add_argument("--cv-medical", action="store_true",
                        help="rerun the cross-validation of the medical classifier")
    parser.add_argument("--cv-semantic", action="store_true",
                        help="rerun the cross-validation of the semantic layer's margin")
    parser.add_argument("--cv-scope", action="store_true",
                        help="rerun the cross-validation of the scope classifier")
    parser.add_argument("--first-contact", type=Path, metavar="FILE",
                        help="score a new labelled set once (see eval/README.md)")
    args = parser.parse_args()
    if args.first_contact:
        first_contact(args.first_contact)
    elif args.cv:
        cross_validate()
    elif args.cv_medical:
        cross_validate_medical()
    elif args.cv_semantic:
        cross_validate_semantic()
    elif args.cv_scope:
        cross_validate_scope()
    else:
        print(train())
