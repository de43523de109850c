# syntax=docker/dockerfile:1
# GPU worker image for Dataflow: `--runner dataflow --gpu nvidia-tesla-t4 --sdk_container_image IMAGE`.
# Build from the repository root and push where the Dataflow workers can pull it:
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/parabeam-gpu:TAG .
#   docker push REGION-docker.pkg.dev/PROJECT/REPO/parabeam-gpu:TAG
# Beam (2.77.0) and Python (3.11) here must match the environment that launches the job.
ARG BEAM_VERSION=2.77.0
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

# Only Beam's SDK harness boot entrypoint (/opt/apache/beam) is taken from the official image.
FROM apache/beam_python3.11_sdk:${BEAM_VERSION} AS beam_sdk

FROM ${CUDA_IMAGE}
ARG BEAM_VERSION
# CUDA 12 torch wheels, so torch and faiss-gpu-cu12 share one CUDA major version.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

# Python 3.11 as the image's `python`. Beam's boot runs `python` and builds each worker's venv with
# --system-site-packages, so everything is installed into this interpreter rather than a venv of ours.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg software-properties-common \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev \
 && ln -sf /usr/bin/python3.11 /usr/local/bin/python \
 && ln -sf /usr/bin/python3.11 /usr/local/bin/python3 \
 && curl -sSf https://bootstrap.pypa.io/get-pip.py | python \
 && apt-get purge -y software-properties-common gnupg \
 && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*

RUN python -m pip install --index-url "${TORCH_INDEX_URL}" torch

WORKDIR /opt/parabeam
COPY setup.py ./
COPY pipeline ./pipeline
COPY transforms ./transforms
COPY launchers ./launchers
COPY schemas ./schemas
# install_requires has faiss-cpu, which ships the same `faiss` package as faiss-gpu-cu12: after the
# consistency check, drop it and reinstall the GPU build so its files are the ones in site-packages.
RUN python -m pip install ".[gpu,gcp]" \
 && python -m pip check \
 && python -m pip uninstall -y faiss-cpu \
 && python -m pip install --force-reinstall --no-deps "faiss-gpu-cu12>=1.9" \
 && python -c "import apache_beam, faiss, torch, parabeam.launchers; \
assert apache_beam.__version__ == '${BEAM_VERSION}', apache_beam.__version__; \
assert hasattr(faiss, 'StandardGpuResources'), 'faiss is not the GPU build'; \
assert torch.version.cuda and torch.version.cuda.startswith('12.'), torch.version.cuda"

COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]
