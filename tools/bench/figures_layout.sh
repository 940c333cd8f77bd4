#!/usr/bin/env bash
# Row-layout figures of docs/PERFORMANCE.md ("Row layouts"): the trained payload corpus with one
# frame-wide bound against per-table bounds (the table quantizer, the paper's cardinality
# classes) and local records per row vector; the w2v tables' fixed-length stage against INT8
# row-wise. Usage: tools/bench/figures_layout.sh BUILD_DIR OUT_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:?build dir}"
out="${2:?output dir}"
bench="$build/tools/bench/squeeze-bench"
mkdir -p "$out"
echo "commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo +dirty)" \
  > "$out/machine.txt"
echo "cores $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
corpus="$root/data/corpus"
[ -d "$corpus/d64" ] || { echo "data/corpus missing: scripts/make_corpus.sh first" >&2; exit 1; }

run() {  # name, then squeeze-bench arguments
  local name="$1"
  shift
  "$bench" "$@" --reps 1 --json "$out/$name.json" > "$out/$name.txt" 2>&1 ||
    { echo "FAILED: $name"; tail -3 "$out/$name.txt"; exit 1; }
}

for cfg in d64 d32 d128 mixed; do
  for step in s00050 s01464; do
    for dir in fwd_r3_to_r0 bwd_r0_to_r3; do
      f="$corpus/$cfg/${step}_${dir}.f32"
      t="$(python3 "$root/tools/corpus/table_spec.py" --rows "$f")"
      dim=64
      case "$cfg" in d32) dim=32 ;; d128) dim=128 ;; esac
      base="${cfg}_${step}_${dir}"
      for chunk in 0 131072; do
        c=$([ "$chunk" = 0 ] && echo one || echo 128k)
        a=(--input "$f" --tables "$t" --row-dim "$dim" --chunk "$chunk")
        run "${base}_rel_$c" "${a[@]}" --mode rel --bound 1e-2
        run "${base}_reltab_$c" "${a[@]}" --mode rel --bound 1e-2 --layout
        run "${base}_relcls_$c" "${a[@]}" --mode rel --bound 1e-2 --layout --classes
        run "${base}_local_$c" "${a[@]}" --mode local --bound 1.96e-3
        run "${base}_localrow_$c" "${a[@]}" --mode local --bound 1.96e-3 --layout
      done
    done
  done
done
for d in 32 64 128; do
  w="$root/data/w2v_d$d.f32"
  [ -f "$w" ] || continue
  run "w2v_d${d}_localrow" --input "$w" --tables "$d/$d" --row-dim "$d" --mode local --bound 1.96e-3 \
    --layout --stages
  run "w2v_d${d}_local" --input "$w" --tables "$d/$d" --row-dim "$d" --mode local --bound 1.96e-3 \
    --stages
done
echo "done: $out"
