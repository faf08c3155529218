# GENRE workbench image: the same steps as `make run`, serving on port 8501.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# NOTE: PyPI's torch==2.13.0 wheel for Linux is a CUDA build of several GB. For a
# CPU-only image, point PIP_EXTRA_INDEX_URL at a CPU wheel index when building.
ARG PIP_EXTRA_INDEX_URL=
ENV PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL}
COPY requirements.txt requirements-test.txt pyproject.toml Makefile README.md ./
COPY genre_core ./genre_core
RUN make install PYTHON=python3.11

COPY . .
# Prepare MovieLens-100k from the installed recbole package and train the default model.
RUN make prepare model

EXPOSE 8501
CMD ["make", "run", "HOST=0.0.0.0", "PORT=8501"]
