"""Packaging for smil-keras (import name ``smil_keras``)."""

import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "smil_keras" / "version.py").read_text(), re.M
).group(1)

setup(
    name="smil-keras",
    version=VERSION,
    description=(
        "Sharp Multiple Instance Learning (S-MIL) for partially attacked DeepFake "
        "video detection, in Keras 3 / TensorFlow."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["smil_keras", "smil_keras.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<3.16",
        "mtcnn>=1.0,<1.1",  # MTCNN's trained weights (read with joblib + lz4, mtcnn's own needs)
        "joblib>=1.4.2",
        "opencv-python-headless>=4.9",
        "numpy>=1.26",
        "scikit-image>=0.22",
        "matplotlib>=3.8",
        "pyyaml>=6.0",
        "tqdm>=4.66",
        "tensorboard>=2.20,<2.22",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-xdist>=3.5",
            "ruff>=0.16,<0.18",
            "jax[cpu]>=0.4.30,<0.13",
            "scikit-learn>=1.4",
            "av>=12",
            "nbclient>=0.10",
            "ipykernel>=6",
            "ray[data]>=2.60",  # the Ray engines' tests (smil extract / smil predict --engine ray)
        ],
        "notebooks": [
            "jupyterlab>=4",
            "ipywidgets>=8",
            "matplotlib>=3.8",
            "nbmake>=1.5",
            "scikit-learn>=1.4",
        ],
        # `smil extract --engine ray` (smil_keras.bags.ray_engine); the core never imports it.
        "ray": ["ray[data]>=2.60"],
    },
    entry_points={"console_scripts": ["smil=smil_keras.cli.main:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
