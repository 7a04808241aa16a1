from __future__ import annotations

import numpy as np
import pytest

from scripts.config import ConfigError
from scripts.evaluate import evaluate, parse_predictions, read_labels_csv, report


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ('{"predictions": [[0.1, 0.9], [0.8, 0.2]]}', [[0.1, 0.9], [0.8, 0.2]]),
        ('{\n  "predictions": [\n    [0.1, 0.9]\n  ]\n}\n', [[0.1, 0.9]]),
        ("[0.1, 0.9]\n[0.7, 0.3]\n", [[0.1, 0.9], [0.7, 0.3]]),
        ('{"predictions": [[0.1, 0.9]]}\n{"predictions": [[0.6, 0.4]]}\n', [[0.1, 0.9], [0.6, 0.4]]),
        ('{"prediction": [0.2, 0.8], "top_k": []}\n', [[0.2, 0.8]]),
        ('{"probabilities": [0.3, 0.7], "logits": [1, 2]}\n', [[0.3, 0.7]]),
    ],
)
def test_parse_predictions_formats(text, rows):
    assert parse_predictions(text) == rows


def test_parse_predictions_names_the_bad_line():
    with pytest.raises(ConfigError, match="line 2"):
        parse_predictions('[0.1, 0.9]\n{"error": "boom"}\n')


def test_evaluate_numbers():
    result = evaluate([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], ["a", "b", "c"])
    assert result.counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert result.accuracy == pytest.approx(3 / 5)
    np.testing.assert_allclose(result.normalized, [[0.5, 0.5, 0], [0, 1, 0], [0.5, 0, 0.5]])
    assert result.recall == {"a": 0.5, "b": 1.0, "c": 0.5}
    assert report(result).splitlines()[0] == "accuracy 0.6000 (3/5)"


def test_class_without_examples_has_no_recall():
    result = evaluate([0, 0], [0, 1], ["a", "b"])
    assert result.recall == {"a": 0.5, "b": None}
    assert result.normalized[1].tolist() == [0.0, 0.0]
    assert "recall b n/a (no examples)" in report(result)


def test_evaluate_errors():
    with pytest.raises(ConfigError, match="2 labels vs 1 predictions"):
        evaluate([0, 1], [0], ["a", "b"])
    with pytest.raises(ConfigError, match="exceeds the 2 class names"):
        evaluate([0, 2], [0, 1], ["a", "b"])


def test_labels_csv(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("filename,label\nx.png,1\ny.png,cat\n")
    assert read_labels_csv(path, ["dog", "cat"]) == {"x.png": 1, "y.png": 1}
    path.write_text("x.png,horse\n")
    with pytest.raises(ConfigError, match="neither an index nor a class name"):
        read_labels_csv(path, ["dog", "cat"])
