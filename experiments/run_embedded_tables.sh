#!/usr/bin/env bash
# Runs our three embedded-data tables and builds them with the leaderboard:
#   segmentation  experiments/embedded_segmentation.yaml  U-Net / DeepLabV3+ x CE / Dice / CE->Dice x seeds 1-3
#   flow          experiments/embedded_flow.yaml          RAFT-small, FlowNetS trained briefly + 5 classical methods
#   tracking      experiments/embedded_tracking.yaml      SORT vs DeepSORT (appearance models of seeds 1-3)
#
#   experiments/run_embedded_tables.sh [segmentation] [flow] [tracking]      (no argument: all three, in this order)
#
# Sized for a 2-core CPU: about 25 minutes for all three on an idle machine (measurements in experiments/README.md);
# jobs run one at a time (Hydra's basic launcher). Runs go to outputs/embedded/<timestamp>/<table>/..., a new
# directory per call; each table is then built twice from its runs, into experiments/results/embedded_<table>/:
#   python leaderboard.py --table embedded_<table> --out experiments/results/embedded_<table>/ <its run directories>
#   python leaderboard.py --by ... --percent --out experiments/results/embedded_<table>/ <its run directories>
# (the table file's rows; and the plain leaderboard: ranking, bootstrap marks, plots), and every HTML page there is
# screenshot with scripts/screenshot_html.py (headless Chromium). The exact commands, with their wall times, are
# written to <runs>/commands.txt and copied beside the results. A results folder that already holds files is refused
# up front; OVERWRITE_RESULTS=1 deletes its .md/.csv/.html/.png/commands.txt first (they are in git).
# PYTHON selects the interpreter (default: .venv/bin/python when present, else python).
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi

TABLES=("$@")
if [[ ${#TABLES[@]} -eq 0 ]]; then TABLES=(segmentation flow tracking); fi
for table in "${TABLES[@]}"; do
    case "$table" in
        segmentation | flow | tracking) ;;
        *)
            echo "run_embedded_tables.sh: unknown table '$table' (expected segmentation, flow or tracking)" >&2
            exit 2
            ;;
    esac
    results="experiments/results/embedded_$table"
    if [[ -d "$results" && -n "$(ls -A "$results")" && "${OVERWRITE_RESULTS:-0}" != 1 ]]; then
        echo "run_embedded_tables.sh: $results already holds results; set OVERWRITE_RESULTS=1 to replace them" >&2
        exit 1
    fi
done

RUNS="outputs/embedded/$(date +%Y-%m-%d_%H-%M-%S)"
if [[ -e "$RUNS" ]]; then echo "run_embedded_tables.sh: $RUNS exists; run again in a second" >&2; exit 1; fi
mkdir -p "$RUNS"
LOG="$RUNS/commands.txt"
{
    echo "# experiments/run_embedded_tables.sh ${TABLES[*]}"
    echo "# git $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)')"
    echo "# $(nproc) CPUs, $(uname -srm), started $(date -Iseconds)"
} > "$LOG"

# run COMMAND...: echo it, append it to commands.txt, run it, append its wall time.
run() {
    echo "+ $*"
    echo "$*" >> "$LOG"
    local started=$SECONDS
    "$@"
    echo "#   $((SECONDS - started)) s" >> "$LOG"
}

# build TABLE "LEADERBOARD OPTIONS" RUN_DIR...: the table twice from the same runs, into experiments/results/embedded_
# <TABLE>/: as its table file (embedded_<TABLE>.{md,csv,html}: the rows of experiments/embedded_<TABLE>.yaml) and as a
# plain leaderboard (leaderboard.{md,csv,html}: seeds averaged, best row and bootstrap marks, plots); then a
# screenshot of each HTML page and the commands beside them.
build() {
    local table=$1 options=() page
    read -r -a options <<< "$2"
    shift 2
    local results="experiments/results/embedded_$table"
    if [[ "${OVERWRITE_RESULTS:-0}" == 1 && -d "$results" ]]; then
        rm -f "$results"/*.md "$results"/*.csv "$results"/*.html "$results"/*.png "$results"/commands.txt
    fi
    run "$PYTHON" leaderboard.py --table "embedded_$table" --out "$results/" "$@"
    run "$PYTHON" leaderboard.py "${options[@]}" --percent --out "$results/" "$@"
    for page in "$results"/*.html; do
        if [[ -e "$page" ]]; then run "$PYTHON" scripts/screenshot_html.py "$page"; fi
    done
    cp "$LOG" "$results/commands.txt"
}

segmentation() {
    local runs="$RUNS/segmentation" models=segmentation/unet,segmentation/deeplabv3plus
    run "$PYTHON" train.py -m experiment=embedded/segmentation model="$models" loss=ce,dice seed=1,2,3 \
        hydra.sweep.dir="$runs/ce_dice"
    run "$PYTHON" train.py -m experiment=embedded/segmentation model="$models" loss=ce_then_dice \
        loss.schedule.switch_epoch=2 seed=1,2,3 hydra.sweep.dir="$runs/ce_then_dice"
    build segmentation "--by model loss" "$runs/ce_dice" "$runs/ce_then_dice"
}

flow() {
    local runs="$RUNS/flow"
    run "$PYTHON" train.py -m experiment=embedded/flow model=flow/raft_small seed=1 hydra.sweep.dir="$runs/raft_small"
    run "$PYTHON" train.py -m experiment=embedded/flow model=flow/flownets loss=flow_multiscale_epe \
        model.width_multiplier=0.5 seed=1 hydra.sweep.dir="$runs/flownets"
    run "$PYTHON" evaluate.py -m task=flow data=flow/synthetic_flow split=test \
        model=flow/horn_schunck,flow/lucas_kanade,flow/farneback,flow/dis,flow/correlation task_name=embedded_flow \
        hydra.sweep.dir="$runs/classical"
    build flow "--by model" "$runs/raft_small" "$runs/flownets" "$runs/classical"
}

tracking() {
    local runs="$RUNS/tracking" seed
    run "$PYTHON" evaluate.py task=tracking model=tracking/sort task_name=embedded_tracking hydra.run.dir="$runs/sort"
    for seed in 1 2 3; do
        run "$PYTHON" train.py experiment=embedded/reid seed="$seed" hydra.run.dir="$runs/reid_seed$seed"
        run "$PYTHON" evaluate.py task=tracking model=tracking/deepsort model.encoder.path="$runs/reid_seed$seed" \
            seed="$seed" task_name=embedded_tracking hydra.run.dir="$runs/deepsort_seed$seed"
    done
    build tracking "" "$runs/sort" "$runs/deepsort_seed1" "$runs/deepsort_seed2" "$runs/deepsort_seed3"
}

for table in "${TABLES[@]}"; do
    "$table"
done
echo "# finished $(date -Iseconds)" >> "$LOG"
echo "runs in $RUNS; tables in experiments/results/embedded_{$(IFS=,; echo "${TABLES[*]}")}/"
