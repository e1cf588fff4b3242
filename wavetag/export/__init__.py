"""Deployment formats: ONNX (float, and int8 by dynamic quantisation) with a parity check.

from wavetag.export import export
report = export("runs/kws/best", int8=True)  # writes model.onnx and model.int8.onnx
report.max_abs_diff, [(v.name, v.accuracy, v.size_bytes, v.latency_ms) for v in report.variants]
"""

from wavetag.export.onnx import ExportReport, VariantStats, export, read_metadata

__all__ = ["ExportReport", "VariantStats", "export", "read_metadata"]
