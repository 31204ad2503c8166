import numpy as np
import pytest

from tunekit.audit.calibration import calibration_report


def test_overconfident_wrong_predictions_have_a_high_ece(tmp_path):
    probabilities = np.tile([0.99, 0.01], (100, 1))
    targets = np.array([0] * 50 + [1] * 50)
    report = calibration_report(probabilities, targets, ["a", "b"], bins=10, plot=tmp_path / "r.png")
    assert report["ece"] == pytest.approx(0.49) and (tmp_path / "r.png").stat().st_size > 0


def test_calibrated_predictions_have_a_low_ece():
    probabilities = np.tile([0.75, 0.25], (100, 1))
    targets = np.array([0] * 75 + [1] * 25)
    assert calibration_report(probabilities, targets, ["a", "b"], bins=10)["ece"] == pytest.approx(0.0, abs=1e-9)
