#!/usr/bin/env bash
# The codec v2 figures of docs/PERFORMANCE.md: squeeze-bench over the trained payload corpus
# (data/corpus, made by scripts/make_corpus.sh; falls back to the sample in tests/data/corpus),
# the dlrm and init generators and the w2v tables (scripts/make_real_table.sh), then
# tools/bench/figures_v2.py turns the JSON files into the tables.
#
#   tools/bench/figures_v2.sh BUILD_DIR OUT_DIR [ratios|speed|all]
#
# ratios: every setting of the figures on the corpus files (exact, repeatable; --reps 1): by
#         default each configuration's rank 3 -> 0 forward block (in the size split: the 20
#         small tables, the most repeated vectors) and its gradient block (0 -> 3); BLOCKS=all takes every
#         dumped block, so that a figure is not one block's. CORPUS=DIR reads another corpus
#         (e.g. one made with --seed 2) and CONFIGS="d64 d64_rr ..." its configurations.
# speed:  64 MiB single-thread runs, 3 runs of --reps 5 each (noisy machines: the summary takes
#         medians of the within-run fractions of memcpy).
set -euo pipefail
build="${1:?build dir}"
out="${2:?output dir}"
what="${3:-all}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
bench="$build/tools/bench/squeeze-bench"
mkdir -p "$out"
{
  echo "commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo +dirty)"
  echo "date $(date -u +%FT%TZ)"
  echo "cores $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"

corpus="${CORPUS:-$root/data/corpus}"
configs="${CONFIGS:-d64 d32 d128 mixed}"
first_config="${configs%% *}"
[ -d "$corpus/$first_config" ] || corpus=""
echo "corpus ${corpus:-tests/data/corpus (the sample)}; configs $configs; blocks ${BLOCKS:-rank 3 -> 0}" \
  >> "$out/machine.txt"
spec() { python3 "$root/tools/corpus/table_spec.py" "$1"; }

run() {  # name, then squeeze-bench arguments
  local name="$1"
  shift
  "$bench" "$@" --json "$out/$name.json" > "$out/$name.txt" 2>&1 ||
    { echo "FAILED: $name"; tail -3 "$out/$name.txt"; exit 1; }
}

if [ "$what" = ratios ] || [ "$what" = all ]; then
  files=()
  if [ -n "$corpus" ]; then
    for cfg in $configs; do
      for step in s00050 s01464; do
        if [ "${BLOCKS:-}" = all ]; then
          files+=("$corpus/$cfg/${step}"_fwd_*.f32 "$corpus/$cfg/${step}"_bwd_*.f32)
        else
          files+=("$corpus/$cfg/${step}_fwd_r3_to_r0.f32" "$corpus/$cfg/${step}_bwd_r0_to_r3.f32")
        fi
      done
    done
  else
    files=("$root"/tests/data/corpus/*.f32)
  fi
  for f in "${files[@]}"; do
    cfg="$(basename "$(dirname "$f")")"
    [ -n "$corpus" ] || cfg="sample"
    base="${cfg}_$(basename "$f" .f32)"
    t="$(spec "$f")"
    width="${t%%:*}"
    dim=64
    case "$f" in *d32*) dim=32 ;; *d128*) dim=128 ;; esac
    for chunk in 0 131072; do
      c=$([ "$chunk" = 0 ] && echo one || echo 128k)
      run "${base}_local_$c" --input "$f" --tables "$t" --row-dim "$dim" --chunk "$chunk" --reps 1 \
        --mode local --bound 1.96e-3
      run "${base}_rel_$c" --input "$f" --tables "$t" --row-dim "$dim" --chunk "$chunk" --reps 1 \
        --mode rel --bound 1e-2
      case "$f" in *mixed*) ;; *)
        run "${base}_int8dim_$c" --input "$f" --tables "$t" --row-dim "$dim" --chunk "$chunk" \
          --reps 1 --match int8
        run "${base}_int8row_$c" --input "$f" --tables "$t" --row-dim "$width" --chunk "$chunk" \
          --reps 1 --match int8 ;;
      esac
    done
    # 128 KiB steps of one message on one connection: references into earlier steps (the plugin's
    # default between two CPU peers).
    run "${base}_local_128k_stream" --input "$f" --tables "$t" --row-dim "$dim" --reps 1 \
      --mode local --bound 1.96e-3 --stream
    run "${base}_rel_128k_stream" --input "$f" --tables "$t" --row-dim "$dim" --reps 1 \
      --mode rel --bound 1e-2 --stream
  done
  for gen in dlrm init; do
    for m in "local 1.96e-3" "rel 1e-2"; do
      set -- $m
      run "gen_${gen}_$1" --generate "$gen" --size 16MiB --seed 1 --reps 1 --mode "$1" --bound "$2"
      run "gen_${gen}_$1_stages" --generate "$gen" --size 16MiB --seed 1 --reps 1 --mode "$1" \
        --bound "$2" --stages
    done
    run "gen_${gen}_abs1e-4" --generate "$gen" --size 16MiB --seed 1 --reps 1 --mode abs --bound 1e-4
    run "gen_${gen}_rel1e-3" --generate "$gen" --size 16MiB --seed 1 --reps 1 --mode rel --bound 1e-3
  done
  for d in 32 64 128; do
    w="$root/data/w2v_d$d.f32"
    [ -f "$w" ] || continue
    run "w2v_d${d}_local" --input "$w" --tables "$d/$d" --row-dim "$d" --reps 1 --mode local \
      --bound 1.96e-3 --stages
    run "w2v_d${d}_rel" --input "$w" --tables "$d/$d" --row-dim "$d" --reps 1 --mode rel --bound 1e-2
    run "w2v_d${d}_int8dim" --input "$w" --row-dim "$d" --reps 1 --match int8
  done
fi

if [ "$what" = speed ] || [ "$what" = all ]; then
  # 64 MiB: the whole corpus concatenated, or (without data/corpus) the committed samples
  # (3.6 MiB) repeated, so that the input is as large as the figure says and not cached.
  big="$root/data/bench64.f32"
  if [ ! -f "$big" ]; then
    mkdir -p "$root/data"
    src="$root/data/corpus"
    [ -d "$src/d64" ] || src="$root/tests/data/corpus"
    files=$(find "$src" -name '*.f32' | sort)
    for _ in $(seq 64); do cat $files; done | head -c 67108864 > "$big" || true
    echo "speed input: $big from $src" >> "$out/machine.txt"
  fi
  for r in 1 2 3; do
    for m in "local 1.96e-3" "rel 1e-2"; do
      set -- $m
      for chunk in 131072 0; do
        c=$([ "$chunk" = 0 ] && echo one || echo 128k)
        run "speed_${1}_${c}_run$r" --input "$big" --row-dim 64 --chunk "$chunk" --reps 5 \
          --mode "$1" --bound "$2"
      done
    done
  done
fi
echo "figures_v2: wrote $out"
