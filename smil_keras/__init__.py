"""smil-keras: Sharp Multiple Instance Learning for partially attacked DeepFake video detection."""

from smil_keras.version import __version__

__all__ = ["__version__"]
