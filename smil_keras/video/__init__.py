"""Video decoding: uniformly sampled RGB frames (first stage of the pipeline)."""

from smil_keras.errors import VideoReadError
from smil_keras.video.frame_sample import FrameSample
from smil_keras.video.sampling import sample_frames, uniform_indices

__all__ = ["FrameSample", "VideoReadError", "sample_frames", "uniform_indices"]
