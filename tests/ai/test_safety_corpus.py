"""The offline classifier measured, not assumed (S1): precision and recall per Acceptable Use
Policy category on the labelled corpus in tests/data/safety, prompts and outputs, evasions
included, against the thresholds documented in docs/security.md."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from offcoder.ai.safety import Category, default_classifier

pytestmark = pytest.mark.promise("S1")

CORPUS = Path(__file__).parent.parent / "data" / "safety" / "corpus.jsonl"
MIN_PRECISION = 0.95
MIN_RECALL = 0.90
MAX_FALSE_BLOCKS = 0.02  # of the allowed items, everyday programming and near-misses


def load() -> list[dict[str, str]]:
    items = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    assert len(items) > 300
    return items


def test_precision_and_recall_per_category() -> None:
    classifier = default_classifier()
    hits: Counter[str] = Counter()
    said: Counter[str] = Counter()
    truth: Counter[str] = Counter()
    misses: list[str] = []
    false_blocks: list[str] = []
    for item in load():
        verdict = classifier.classify(item["text"])
        found = verdict.category.value if verdict.category else "allowed"
        truth[item["label"]] += 1
        said[found] += 1
        if found == item["label"]:
            hits[found] += 1
        elif item["label"] == "allowed":
            false_blocks.append(f"{found} ({verdict.rule}): {item['text']}")
        else:
            misses.append(f"{item['label']} as {found}: {item['text']}")
    report = []
    for category in Category:
        name = category.value
        precision = hits[name] / said[name] if said[name] else 1.0
        recall = hits[name] / truth[name]
        report.append(f"{name}: precision {precision:.2f}, recall {recall:.2f} of {truth[name]}")
        assert truth[name] >= 10, name
    print("\n".join(report))
    false_rate = len(false_blocks) / truth["allowed"]
    detail = "\n".join([*report, "missed:", *misses, "blocked but allowed:", *false_blocks])
    for category in Category:
        name = category.value
        assert said[name] == 0 or hits[name] / said[name] >= MIN_PRECISION, detail
        assert hits[name] / truth[name] >= MIN_RECALL, detail
    assert false_rate <= MAX_FALSE_BLOCKS, detail
