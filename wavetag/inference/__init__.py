"""Inference: `Predictor` (clips, long files by sliding windows), streaming detection, test
streams with known event times, streaming evaluation and detection-threshold tuning.

Names are imported on first use, so ``import wavetag.inference`` stays light.

    >>> from wavetag.inference import Predictor
    >>> predictor = Predictor.load("runs/kws/best")                      # doctest: +SKIP
    >>> predictor.predict("clip.wav").label                              # doctest: +SKIP
    >>> [e.to_dict() for e in predictor.detect("meeting.wav")]          # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wavetag.lazy import lazy_getattr

_EXPORTS = {
    "Predictor": "wavetag.inference.predictor",
    "Prediction": "wavetag.inference.predictor",
    "WindowPrediction": "wavetag.inference.predictor",
    "Event": "wavetag.inference.detector",
    "DetectionSettings": "wavetag.inference.detector",
    "detect": "wavetag.inference.detector",
    "build_streams": "wavetag.inference.streams",
    "evaluate_streams": "wavetag.inference.stream_eval",
    "tune_thresholds": "wavetag.inference.thresholds",
    "save_detection": "wavetag.inference.thresholds",
    "tune_model_dir": "wavetag.inference.thresholds",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from wavetag.inference.detector import DetectionSettings, Event, detect
    from wavetag.inference.predictor import Prediction, Predictor, WindowPrediction
    from wavetag.inference.stream_eval import evaluate_streams
    from wavetag.inference.streams import build_streams
    from wavetag.inference.thresholds import save_detection, tune_model_dir, tune_thresholds


__getattr__ = lazy_getattr(__name__, _EXPORTS)
