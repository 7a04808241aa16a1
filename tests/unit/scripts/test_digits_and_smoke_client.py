from __future__ import annotations

import json

import numpy as np
import pytest

from scripts import digits, smoke_client


def test_split_is_stratified_disjoint_complete_and_seeded():
    labels = np.repeat(np.arange(10), 50)
    parts = digits.split_indices(labels, seed=3)
    joined = np.concatenate(list(parts.values()))
    assert sorted(joined.tolist()) == list(range(len(labels)))  # every scan once
    for split, fraction in digits.SPLIT_FRACTIONS.items():
        per_class = np.bincount(labels[parts[split]], minlength=10)
        assert (np.abs(per_class - 50 * fraction) <= 1).all(), (split, per_class)
    again = digits.split_indices(labels, seed=3)
    other = digits.split_indices(labels, seed=4)
    assert all((parts[s] == again[s]).all() for s in parts)
    assert any(not np.array_equal(parts[s], other[s]) for s in parts)


def test_upscale_keeps_the_stroke_and_makes_rgb():
    scan = np.zeros((8, 8))
    scan[:, 3:5] = digits.SCAN_MAX  # a vertical bar
    image = np.asarray(digits.upscale(scan, 32))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert image[:, 14:18].mean() > 200 and image[:, :6].mean() < 20


@pytest.mark.parametrize(
    ("body", "expected"),
    [('{"probabilities": [0.1, 0.7, 0.2]}\n[0.9, 0.05, 0.05]\n', [1, 0]), ("\n[0, 0, 1]\n\n", [2])],
)
def test_jsonlines_classes_accept_objects_and_bare_rows(body, expected):
    assert smoke_client.classes_from_jsonlines(body) == expected


def test_json_classes_one_per_instance():
    assert smoke_client.classes_from_json(json.dumps({"predictions": [[0, 1], [1, 0], [0.2, 0.8]]})) == [1, 0, 1]


def test_client_reports_missing_samples_with_exit_2(tmp_path, capsys):
    assert smoke_client.main(["--url", "http://127.0.0.1:9", "--samples", str(tmp_path)]) == 2
    assert "expected.json missing" in capsys.readouterr().err
