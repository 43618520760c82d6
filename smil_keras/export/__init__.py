"""Export of trained detectors for serving (TensorFlow SavedModel, TF Serving)."""

from smil_keras.export.saved_model import export_saved_model, read_view

__all__ = ["export_saved_model", "read_view"]
