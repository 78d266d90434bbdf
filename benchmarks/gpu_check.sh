#!/usr/bin/env bash
# One prepared GPU session for issue #32 ("Saturate the GPU"): measures, within 8 minutes and
# without network, how much of the GPU the training loop uses, side by side with the code the
# issue measured (the baseline), and prints a table.
#
#   bash benchmarks/gpu_kit.sh                   # here: packs .gpu_kit (wheels, data, baseline)
#   GPU_CHECK_KIT=.gpu_kit OUT=$OUT bash benchmarks/gpu_check.sh   # on the GPU node, carrying .gpu_kit
#   GPU_CHECK_DRY=1 bash benchmarks/gpu_check.sh # CPU dry run: every step at a tiny size
#
# Steps (each under `timeout`, the whole script within GPU_CHECK_BUDGET_S, default 470 s; in this
# order, so a spent budget skips the least needed):
#   1. device, driver, torch version, date; the kit unpacked (GPU_CHECK_KIT: its wheels on
#      PYTHONPATH, its data as the data dir, its baseline code as GPU_CHECK_BASELINE);
#   2. benchmarks/device_throughput.py, SimCLR on the whole Fashion-MNIST train split at batch 256
#      (amp off, bf16): the real loop's pairs/s and, with --limit, the bare step on device-resident
#      views; also the loop with batches gathered on the host (--host-batches, amp off) and a
#      profile of 20 of its steps (--profile-steps: the host's time in the views and in the whole
#      step, the kernels' time per step); then the baseline's device_throughput.py on the same data
#      and batch (its loop only); then ResNet-18 (bf16) and its limit;
#   3. `run --suite methods --datasets fashion_mnist --seeds 0 --device cuda` (local executor), with
#      nvidia-smi sampling utilisation once a second; then the baseline's own run of the same slice;
#   4. benchmarks/throughput.py --device cuda: ours / limit for one dataset of every encoder (small
#      CNN, 3-D CNN, 1-D signal, graph, tabular MLP; and MAE's token transformer);
#   5. the methods grid with `--executor process --jobs-per-gpu 4` (several jobs per GPU), made
#      with SSLBENCH_SYNC_DEBUG=1: benchmarks/sync_report.py then gives each method's waits for the
#      GPU per training step, as torch's sync debug mode counted them (the dry run reads step 3's);
#   6. benchmarks/gpu_projection.py: the `standard` suite's projected time on this GPU from the
#      grid's per-job times and the per-encoder factors of step 4 (one job at a time, and divided
#      by the jobs-per-GPU grid's measured speed-up);
#   7. the default encoder under torch.compile (--compile reduce-overhead: compiled / eager).
# A step cut by its timeout still reports what it measured (jobs done per minute, utilisation).
# Data: the kit's, else SSLBENCH_DATA_DIR (or DATA_DIR); Fashion-MNIST is also found in
# /usr/share/datasets. Baseline: GPU_CHECK_BASELINE, a checkout of the issue's commit (the kit's), named
# by GPU_CHECK_BASELINE_COMMIT where it is no git checkout; GPU_CHECK_COMMIT names today's commit where
# the copied tree has no .git.
# Output, three files in $OUT (else a temp dir): gpu_check_report.txt (the table, then
# `benchmarks/gpu_table.py --print`'s comparison with the baseline and the issue's targets),
# gpu_check_rows.tsv (`python benchmarks/gpu_table.py $OUT` writes docs/performance.md's table from
# it) and gpu_check_logs.tar.gz (the step logs, and each run's store.sqlite under gpu_check_runs/).
set -u -o pipefail

cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then # the GPU image has python3 only
    if command -v python >/dev/null 2>&1; then PY=python; else PY=python3; fi
fi
case $PY in # a relative path, absolute: the baseline's steps run from the baseline's folder
    */*) PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") ;;
esac
DRY=${GPU_CHECK_DRY:-0}
BUDGET=${GPU_CHECK_BUDGET_S:-470}
DATA=${DATA_DIR:-${SSLBENCH_DATA_DIR:-data}}
KIT=${GPU_CHECK_KIT:-}
BASE=${GPU_CHECK_BASELINE:-}
BASE_ID=${GPU_CHECK_BASELINE_COMMIT:-} # the baseline's commit, when known
DEST=${OUT:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
LOGS=$DEST/gpu_check_logs
RUNS=$DEST/gpu_check_runs
SCRATCH=$(mktemp -d /tmp/gpu_check_scratch.XXXXXX)
REPORT=$DEST/gpu_check_report.txt
ROWS=$SCRATCH/rows.tsv
mkdir -p "$LOGS" "$RUNS"
: >"$ROWS"
SAMPLER=""
trap 'stop_sampler; rm -rf "$SCRATCH"' EXIT

if [ "$DRY" = 1 ]; then
    DEVICE=cpu
else
    DEVICE=cuda
fi

row() { # step, status, seconds, measurement[, values: key=value;... for benchmarks/gpu_table.py]
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$ROWS"
}

left() { echo $((BUDGET - SECONDS)); }

# timeout for a step: its cap, or what is left of the budget (less a margin for the report)
step_timeout() {
    local cap=$1 rest
    rest=$(($(left) - 15))
    if [ "$rest" -lt "$cap" ]; then echo "$rest"; else echo "$cap"; fi
}

start_sampler() { # utilisation of every GPU once a second, into $1
    : >"$1"
    if command -v nvidia-smi >/dev/null 2>&1 && [ "$DRY" != 1 ]; then
        nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -l 1 >"$1" 2>/dev/null &
        SAMPLER=$!
    fi
}

stop_sampler() {
    if [ -n "$SAMPLER" ]; then
        kill "$SAMPLER" 2>/dev/null
        wait "$SAMPLER" 2>/dev/null
        SAMPLER=""
    fi
}

util_summary() { # "mean M % (max X %, N samples)" or n/a
    awk '$1 ~ /^[0-9]+$/ {s += $1; n++; if ($1 > m) m = $1}
         END {if (n) printf "GPU util mean %.0f %% (max %d %%, %d samples)", s / n, m, n; else printf "GPU util n/a"}' "$1"
}

util_values() { # the same as values: util_mean=M;util_max=X, or nothing
    awk '$1 ~ /^[0-9]+$/ {s += $1; n++; if ($1 > m) m = $1} END {if (n) printf "util_mean=%.1f;util_max=%d", s / n, m}' "$1"
}

step_start() { # name, cap: the step's timeout in STEP_TO; false, after a "skipped" row, once the
    # budget is spent
    STEP_TO=$(step_timeout "$2")
    if [ "$STEP_TO" -lt 20 ]; then
        row "$1" skipped 0 "budget spent"
        return 1
    fi
}

status_of() { # exit code -> status word
    case $1 in
        0) echo ok ;;
        124 | 137) echo timeout ;;
        *) echo "failed($1)" ;;
    esac
}

# ---- 1. the machine and the kit ----------------------------------------------------------------
KIT_NOTE="kit: none"
if [ -n "$KIT" ]; then
    if kit_out=$("$PY" benchmarks/gpu_kit_unpack.py "$KIT" "$SCRATCH/kit" 2>&1); then
        KIT_NOTE=$(grep '^kit:' <<<"$kit_out")
        site=$(sed -n 's/^site=//p' <<<"$kit_out")
        wheels_for=$(sed -n 's/^python=//p' <<<"$kit_out")
        if [ -n "$site" ] && [ "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$wheels_for" ]; then
            export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
        elif [ -n "$site" ]; then
            KIT_NOTE="$KIT_NOTE (wheels are for python ${wheels_for:-?}: not used by $("$PY" -V 2>&1))"
        fi
        kdata=$(sed -n 's/^data=//p' <<<"$kit_out")
        kbase=$(sed -n 's/^baseline=//p' <<<"$kit_out")
        [ -n "$kdata" ] && DATA=$kdata
        if [ -n "$kbase" ] && [ -z "$BASE" ]; then
            BASE=$kbase
            [ -z "$BASE_ID" ] && BASE_ID=$(sed -n 's/^baseline_commit=//p' <<<"$kit_out")
        fi
    else
        KIT_NOTE="kit: $KIT could not be unpacked: $(tail -n 1 <<<"$kit_out")"
        row kit failed 0 "$KIT_NOTE"
    fi
fi
DATA=$(cd "$DATA" 2>/dev/null && pwd || echo "$DATA") # absolute: the baseline runs from its own folder
export SSLBENCH_DATA_DIR=$DATA
if [ -n "$BASE" ] && [ ! -f "$BASE/run_benchmark.py" ]; then
    row baseline skipped 0 "GPU_CHECK_BASELINE=$BASE holds no run_benchmark.py"
    BASE=""
fi
if [ -n "$BASE" ]; then
    BASE=$(cd "$BASE" && pwd)
    [ -z "$BASE_ID" ] && BASE_ID=$(git -C "$BASE" rev-parse --short HEAD 2>/dev/null || echo "?")
fi
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(hostname)  dry: $DRY  device: $DEVICE  budget: ${BUDGET}s  data: $DATA"
    # a copied tree may have no .git: GPU_CHECK_COMMIT names the commit then
    echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo "${GPU_CHECK_COMMIT:-?}")"
    if [ -n "$BASE" ]; then echo "baseline: $BASE_ID ($BASE)"; else echo "baseline: none"; fi
    echo "$KIT_NOTE"
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader 2>&1
    else
        echo "nvidia-smi: not found"
    fi
    timeout 60 "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
"available", torch.cuda.is_available(), "devices", torch.cuda.device_count(),
*(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))' 2>&1
} | tee "$LOGS/00_info.log"
if [ "$DRY" != 1 ] && ! timeout 60 "$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())'; then
    echo "no CUDA device: run with GPU_CHECK_DRY=1 for the CPU dry run" >&2
    row info failed 0 "torch sees no CUDA device"
fi

# ---- 2. throughput: the real loop and the limit ----------------------------------------------
throughput() { # name, cap, code root (. or the baseline), then device_throughput.py arguments
    local name=$1 cap=$2 root=$3 t0 rc secs meas vals to
    shift 3
    step_start "$name" "$cap" || return
    to=$STEP_TO
    t0=$SECONDS
    start_sampler "$SCRATCH/$name.util"
    (cd "$root" && timeout -k 5 "$to" "$PY" benchmarks/device_throughput.py --device "$DEVICE" --data-dir "$DATA" "$@") \
        >"$LOGS/$name.log" 2>&1
    rc=$?
    stop_sampler
    secs=$((SECONDS - t0))
    # "amp=bf16   41234 pairs/s ..." lines: pipeline first, then (--host-batches) the loop on
    # host-gathered batches and the limit line for the same amp. Out: the measurement text, a tab,
    # the same numbers as key=value pairs.
    IFS=$'\t' read -r meas vals < <(awk '
        /^profile: amp=/ {pr = $0; sub("^profile: ", "", pr); m = m pr "; "}
        /^profile: values / {pv = $3; gsub(";", ";profile_", pv); k = k "profile_" pv ";"}
        /^amp=/ {amp = $1; sub("amp=", "", amp); v = $2
            if ($0 ~ /compiled (loop|limit)/) {
                split($0, p, "compiled/eager "); w = ($0 ~ /loop/) ? "loop" : "limit"
                m = m sprintf("%s compiled %s %s/s (x%s vs eager); ", amp, w, v, p[2])
                k = k sprintf("%s_compiled_%s=%s;", amp, w, v)
            } else if ($0 ~ /limit/) {
                split($0, p, "pipeline/limit ")
                m = m sprintf("%s limit %s/s (%s); ", amp, v, p[2]); k = k sprintf("%s_limit=%s;", amp, v)
            } else if ($0 ~ /host-gathered/) {
                m = m sprintf("%s host-gathered %s/s, ", amp, v); k = k sprintf("%s_host=%s;", amp, v)
            } else {
                m = m sprintf("%s loop %s/s, ", amp, v); k = k sprintf("%s_loop=%s;", amp, v)
            }}
        END {printf "%s\t%s\n", (m == "" ? "-" : m), k}' "$LOGS/$name.log")
    [ "$meas" = "-" ] && meas="see $LOGS/$name.log"
    row "$name" "$(status_of $rc)" "$secs" "$meas $(util_summary "$SCRATCH/$name.util")" \
        "${vals}$(util_values "$SCRATCH/$name.util")"
}

encoders() { # name, cap, then throughput.py arguments: ours/limit per encoder
    local name=$1 cap=$2 t0 rc to meas vals
    shift 2
    step_start "$name" "$cap" || return
    to=$STEP_TO
    t0=$SECONDS
    timeout -k 5 "$to" "$PY" benchmarks/throughput.py --device "$DEVICE" --data-dir "$DATA" --no-peer \
        --repeats 1 "$@" >"$LOGS/$name.log" 2>&1
    rc=$?
    # "adult:simclr   limit 1234 (...)  ours 1100 (...)  | ours/limit 0.89" lines
    IFS=$'\t' read -r meas vals < <(awk -F'[ |]+' '/ours\/limit/ {
            split($1, d, ":"); m = m sprintf("%s ours/limit %s; ", $1, $NF)
            k = k sprintf("%s_%s_ours_limit=%s;", d[1], d[2], $NF)}
        END {printf "%s\t%s\n", (m == "" ? "-" : m), k}' "$LOGS/$name.log")
    [ "$meas" = "-" ] && meas="see $LOGS/$name.log"
    row "$name" "$(status_of $rc)" $((SECONDS - t0)) "$meas" "$vals"
}

# ---- 3./5. a real grid: the methods suite on Fashion-MNIST, one seed --------------------------
if [ "$DRY" = 1 ]; then # a tiny stand-in grid on the CPU
    SUITE=$SCRATCH/gpu_check_dry.yaml
    cat >"$SUITE" <<'EOF'
name: gpu_check_dry
datasets:
  - name: fashion_mnist
    max_train: 128
    max_val: 64
    max_test: 64
    epochs: 1
methods: [simclr, random_init]
seeds: [0]
fractions: [1.0]
probes: [knn]
protocols: [label_fraction]
EOF
else
    SUITE=methods # the baseline's run reads its own methods suite: the slice the issue timed
fi

grid() { # name, cap, code root, then extra run arguments
    local name=$1 cap=$2 root=$3 t0 rc secs ndone total to
    shift 3
    step_start "$name" "$cap" || return
    to=$STEP_TO
    mkdir -p "$RUNS/$name"
    t0=$SECONDS
    start_sampler "$SCRATCH/$name.util"
    (cd "$root" && timeout -k 10 "$to" "$PY" run_benchmark.py run --suite "$SUITE" --datasets fashion_mnist \
        --seeds 0 --device "$DEVICE" --data-dir "$DATA" --out "$SCRATCH/$name" --no-progress "$@") \
        >"$LOGS/$name.log" 2>&1
    rc=$?
    stop_sampler
    secs=$((SECONDS - t0))
    [ -f "$SCRATCH/$name/store.sqlite" ] && cp "$SCRATCH/$name/store.sqlite" "$RUNS/$name/"
    read -r ndone total < <("$PY" - "$SCRATCH/$name/store.sqlite" <<'EOF'
import sqlite3, sys
from pathlib import Path
p = Path(sys.argv[1])
if not p.exists():
    print(0, 0)
else:
    c = sqlite3.connect(p)
    print(c.execute("SELECT COUNT(*) FROM jobs WHERE status = 'done'").fetchone()[0],
          c.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
EOF
    )
    awk -v d="$ndone" -v s="$secs" 'BEGIN {printf "%.4f", s ? d / s : 0}' >"$SCRATCH/$name.rate"
    row "$name" "$(status_of $rc)" "$secs" \
        "$ndone/$total jobs done, $(awk -v d="$ndone" -v s="$secs" 'BEGIN {printf "%.2f", s ? 60 * d / s : 0}') jobs/min, $(util_summary "$SCRATCH/$name.util")" \
        "seconds=$secs;jobs_done=$ndone;jobs_total=$total;$(util_values "$SCRATCH/$name.util")"
}

step_syncs() { # name, store: the training steps' waits for the GPU per method (sync_report.py)
    local name=$1 store=$2 t0=$SECONDS out rc meas vals
    if [ ! -f "$store" ]; then
        row "$name" skipped 0 "no store at $store"
        return
    fi
    out=$(timeout 60 "$PY" benchmarks/sync_report.py "$store" 2>&1)
    rc=$?
    printf '%s\n' "$out" >"$LOGS/$name.log"
    IFS=$'\t' read -r meas vals < <(tail -n 1 <<<"$out")
    row "$name" "$(status_of $rc)" $((SECONDS - t0)) "$meas" "${vals:-}"
}

baseline_missing() { # name: a "skipped" row when there is no baseline to run
    row "$1" skipped 0 "no baseline (GPU_CHECK_KIT or GPU_CHECK_BASELINE)"
}

if [ "$DRY" = 1 ]; then
    throughput throughput_small 120 . --limit --amp off --n 256 --batch-size 32 --epochs 2 --limit-steps 3 \
        --host-batches --profile-steps 2
    if [ -n "$BASE" ]; then
        throughput baseline_throughput_small 120 "$BASE" --amp off --n 256 --batch-size 32 --epochs 2
    else baseline_missing baseline_throughput_small; fi
    throughput throughput_resnet18 120 . --limit --amp off --n 64 --batch-size 16 --epochs 2 --limit-steps 2 \
        --encoder resnet18
else
    # SimCLR on the whole train split (54,000 images) at batch 256: the issue's target
    # (2 epochs: the first is the warm-up, the second is timed)
    throughput throughput_small 80 . --limit --amp off,bf16 --n 60000 --batch-size 256 --epochs 2 \
        --limit-steps 50 --host-batches --profile-steps 20
    if [ -n "$BASE" ]; then
        throughput baseline_throughput_small 60 "$BASE" --amp off,bf16 --n 60000 --batch-size 256 --epochs 2
    else baseline_missing baseline_throughput_small; fi
    throughput throughput_resnet18 55 . --limit --amp bf16 --n 10000 --batch-size 256 --epochs 3 --limit-steps 30 \
        --encoder resnet18
fi

grid methods_local 100 . --executor local
if [ -n "$BASE" ]; then
    grid baseline_methods_local 130 "$BASE"
else baseline_missing baseline_methods_local; fi

if [ "$DRY" = 1 ]; then
    encoders throughput_encoders 120 --cases fashion_mnist:simclr,adult:simclr,fashion_mnist:mae --steps 2 \
        --batch-size 32
else
    encoders throughput_encoders 60 --steps 30 --batch-size 256 \
        --cases fashion_mnist:simclr,breastmnist:simclr,adrenalmnist3d:simclr,fsdd:simclr,mitdb:simclr,cora:simclr,adult:simclr,fashion_mnist:mae
fi

if [ "$DRY" = 1 ]; then
    # no GPU here: the flag must stop the run with a usage error (exit 2) before any job
    t0=$SECONDS
    timeout 120 "$PY" run_benchmark.py run --suite "$SUITE" --device cpu --data-dir "$DATA" \
        --out "$SCRATCH/jobs_per_gpu" --no-progress --executor process --jobs-per-gpu 4 >"$LOGS/methods_jobs_per_gpu.log" 2>&1
    rc=$?
    if [ "$rc" = 2 ]; then st=ok; else st="failed($rc)"; fi
    row methods_jobs_per_gpu_4 "$st" $((SECONDS - t0)) "dry: usage error as expected: $(tail -n 1 "$LOGS/methods_jobs_per_gpu.log")"
    step_syncs step_syncs "$RUNS/methods_local/store.sqlite" # the CPU records no counts: "not measured"
else
    export SSLBENCH_SYNC_DEBUG=1 # its workers count each step's synchronizing operations
    grid methods_jobs_per_gpu_4 70 . --executor process --jobs-per-gpu 4
    unset SSLBENCH_SYNC_DEBUG
    step_syncs step_syncs "$RUNS/methods_jobs_per_gpu_4/store.sqlite"
fi

# ---- 6. the standard suite's projected time on this GPU ----------------------------------------
if [ "$DRY" = 1 ]; then PROJECT=$SUITE; else PROJECT=standard; fi
SPEEDUP=1 # the jobs-per-GPU grid's jobs per second over the local grid's, when both ran
if [ -s "$SCRATCH/methods_local.rate" ] && [ -s "$SCRATCH/methods_jobs_per_gpu_4.rate" ]; then
    SPEEDUP=$(awk 'NR == FNR {l = $1; next} {k = $1} END {printf "%.3f", (l > 0 && k > 0) ? k / l : 1}' \
        "$SCRATCH/methods_local.rate" "$SCRATCH/methods_jobs_per_gpu_4.rate")
fi
t0=$SECONDS
to=$(step_timeout 60)
if [ "$to" -lt 10 ]; then
    row projection skipped 0 "budget spent"
elif [ -f "$RUNS/methods_local/store.sqlite" ] && [ -f "$LOGS/throughput_encoders.log" ]; then
    timeout "$to" "$PY" benchmarks/gpu_projection.py --grid-store "$RUNS/methods_local/store.sqlite" \
        --encoder-log "$LOGS/throughput_encoders.log" --suite "$PROJECT" --data-dir "$DATA" \
        --speedup "${SPEEDUP:-1}" >"$LOGS/projection.log" 2>&1
    rc=$?
    # "standard: N jobs projected (...): X h one job at a time[, Y h at the jobs-per-GPU speed-up S]"
    row projection "$(status_of $rc)" $((SECONDS - t0)) "$(tail -n 1 "$LOGS/projection.log")" \
        "$(awk '/jobs projected/ {n = split($0, w, " "); for (i = 2; i < n; i++) {
            if (w[i] == "h" && w[i + 1] == "one") printf "hours_one_at_a_time=%s;", w[i - 1]
            if (w[i] == "h" && w[i + 1] == "at") printf "hours_shared=%s;", w[i - 1]}}' "$LOGS/projection.log")"
else
    row projection skipped 0 "needs the methods_local store and the encoder log"
fi

# ---- 7. torch.compile, last: an option, measured where the budget allows ------------------------
if [ "$DRY" = 1 ]; then
    throughput throughput_compile 120 . --limit --amp off --n 128 --batch-size 32 --epochs 2 --limit-steps 2 \
        --compile default
else
    throughput throughput_compile 70 . --limit --amp off --n 60000 --batch-size 256 --epochs 3 --limit-steps 50 \
        --compile reduce-overhead
fi

# ---- the table ----------------------------------------------------------------------------
cp "$ROWS" "$DEST/gpu_check_rows.tsv" # for benchmarks/gpu_table.py (docs/performance.md's GPU table)
{
    echo
    echo "gpu_check ($(date -u +%H:%M:%SZ), ${SECONDS}s of ${BUDGET}s)"
    awk -F'\t' 'BEGIN {printf "%-26s %-12s %6s  %s\n", "step", "status", "secs", "measurement"}
                {printf "%-26s %-12s %6s  %s\n", $1, $2, $3, $4}' "$ROWS"
    echo
    # side by side with the baseline, and the issue's targets (the same text gpu_table.py writes)
    "$PY" benchmarks/gpu_table.py "$DEST" --print --sections-only 2>&1
} | tee -a "$LOGS/00_info.log"
cat "$LOGS/00_info.log" >"$REPORT"
# the logs and stores as one archive: a device session brings back a few files only
tar -C "$DEST" -czf "$SCRATCH/logs.tar.gz" gpu_check_logs gpu_check_runs &&
    rm -rf "$LOGS" "$RUNS" && mv "$SCRATCH/logs.tar.gz" "$DEST/gpu_check_logs.tar.gz"
echo "report: $REPORT (step logs and stores: $DEST/gpu_check_logs.tar.gz)"
