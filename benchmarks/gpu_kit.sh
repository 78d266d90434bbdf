#!/usr/bin/env bash
# Packs what `benchmarks/gpu_check.sh` needs on a GPU node that has no network into one ignored
# folder, .gpu_kit/, small enough to travel with the checkout (issue #32):
#   wheels/            the suite's packages the node's image lacks (for KIT_PYTHON, default 3.12,
#                      the image's; manylinux x86-64), and python_version, the python they are for;
#   data-*.tar.xz      the datasets gpu_check reads, in the data dir's layout (Fashion-MNIST as
#                      its idx bytes: the adapter accepts any recompression of the same bytes);
#   baseline.tar.xz    the code the issue measured (BASELINE_COMMIT), run beside today's code, and
#   baseline.commit    its commit;
#   MANIFEST           what is in it and its size.
#
#   bash benchmarks/gpu_kit.sh          # here, with pip's registry and the data at hand
#   GPU_CHECK_KIT=.gpu_kit OUT=$OUT bash benchmarks/gpu_check.sh    # there, carrying .gpu_kit
#
# The checkout and the kit together must stay under the transfer limit (KIT_LIMIT_MB, default
# 62): a data part that would cross it is left out and named in MANIFEST (gpu_check then reports
# that dataset as not measured).
set -euo pipefail

cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && PY=.venv/bin/python
KIT=${KIT:-.gpu_kit}
LIMIT_MB=${KIT_LIMIT_MB:-62}
BASELINE_COMMIT=${BASELINE_COMMIT:-9ff6478}
KIT_PYTHON=${KIT_PYTHON:-3.12} # the node's python (the GPU image's python3)
DATA=${SSLBENCH_DATA_DIR:-../shared/data}
FASHION=${FASHION_DIR:-}
# The packages the suite imports that the node's image does not hold; versions are
# the ones installed here, so the node runs what the tests ran.
WHEELS=(wfdb soundfile cffi pycparser pooch platformdirs medmnist)

die() {
    echo "gpu_kit: $*" >&2
    exit 1
}

[ -d "$DATA" ] || die "data dir $DATA not found (set SSLBENCH_DATA_DIR)"
if [ -z "$FASHION" ]; then
    for d in "$DATA/fashion-mnist" "$DATA/FashionMNIST/raw" /usr/share/datasets/fashion-mnist; do
        if [ -f "$d/train-images-idx3-ubyte.gz" ]; then FASHION=$d && break; fi
    done
fi
[ -n "$FASHION" ] || die "Fashion-MNIST's .gz files not found (apt-get install dataset-fashion-mnist, or FASHION_DIR)"
git rev-parse --verify -q "$BASELINE_COMMIT^{commit}" >/dev/null || die "baseline commit $BASELINE_COMMIT not in this clone"
git check-ignore -q "$KIT/MANIFEST" || die "git must ignore $KIT/ (it travels as a carried path, not as tracked files)"

rm -rf "$KIT"
mkdir -p "$KIT/wheels"
STAGE=$(mktemp -d /tmp/gpu_kit.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT

# ---- wheels ---------------------------------------------------------------------------------------
for name in "${WHEELS[@]}"; do
    version=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name" 2>/dev/null) ||
        die "$name is not installed here (make install first)"
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$KIT_PYTHON" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$KIT/wheels" "$name==$version" ||
        die "pip could not download $name==$version for python $KIT_PYTHON"
done
echo "$KIT_PYTHON" >"$KIT/wheels/python_version"

# ---- data: one archive per part, in the order they are kept -----------------------------------------
mkdir -p "$STAGE/fashion-mnist"
for f in "$FASHION"/*-ubyte.gz; do
    gzip -dc "$f" >"$STAGE/fashion-mnist/$(basename "$f" .gz)"
done
pack() { # archive name, directory to archive from, members...
    local name=$1 dir=$2
    shift 2
    tar -C "$dir" -cf - "$@" | xz -6 -T2 >"$KIT/$name"
}
pack data-fashion_mnist.tar.xz "$STAGE" fashion-mnist
pack data-small.tar.xz "$DATA" medmnist/breastmnist.npz medmnist/adrenalmnist3d.npz graphs/Planetoid tabular/adult
pack data-mitdb.tar.xz "$DATA" ecg/mitdb
pack data-fsdd.tar.xz "$DATA" fsdd

# ---- the baseline's code ------------------------------------------------------------------------
git archive --format=tar "$BASELINE_COMMIT" benchmark benchmarks datasets methods run_benchmark.py pyproject.toml |
    xz -6 -T2 >"$KIT/baseline.tar.xz"
git rev-parse --short "$BASELINE_COMMIT" >"$KIT/baseline.commit"

# ---- the size check: what travels is the checkout's files plus the kit ---------------------------
tree_bytes=$( (git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null || echo 0) |
    tail -n 1 | cut -f1)
kit_bytes() { du -cb "$KIT" | tail -n 1 | cut -f1; }
dropped=""
for part in data-fsdd.tar.xz data-mitdb.tar.xz; do
    if [ $((tree_bytes + $(kit_bytes))) -gt $((LIMIT_MB * 1024 * 1024)) ]; then
        rm "$KIT/$part"
        dropped="$dropped $part"
    fi
done
total=$((tree_bytes + $(kit_bytes)))
[ "$total" -le $((LIMIT_MB * 1024 * 1024)) ] || die "checkout + kit is $((total / 1048576)) MiB even without$dropped; the limit is $LIMIT_MB MiB"

{
    echo "gpu kit for benchmarks/gpu_check.sh, made $(date -u +%Y-%m-%dT%H:%M:%SZ) at $(git rev-parse --short HEAD)"
    echo "baseline: $(git rev-parse --short "$BASELINE_COMMIT")"
    echo "data from: $DATA (Fashion-MNIST from $FASHION)"
    echo "left out to fit $LIMIT_MB MiB:${dropped:- nothing}"
    echo "travels: checkout $((tree_bytes / 1048576)) MiB + kit $(($(kit_bytes) / 1048576)) MiB"
    (cd "$KIT" && du -b wheels/* ./*.tar.xz | sort -k2)
} >"$KIT/MANIFEST"
cat "$KIT/MANIFEST"
