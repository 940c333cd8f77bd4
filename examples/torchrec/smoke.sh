#!/usr/bin/env bash
# Opt-in smoke test of the TorchRec example on CPU (not part of scripts/test.sh or CI: it installs
# about 5 GB of PyTorch and TorchRec). Sets up <repo>/.venv-torchrec if needed, trains the DLRM
# with 2 gloo ranks and checks that it learned: the loss of the last logging window is below the
# first one's and the held-out AUC is above 0.6 (chance is 0.5).
#   examples/torchrec/smoke.sh [extra train_dlrm.py arguments]
# Environment: SMOKE_STEPS (default 200), SMOKE_BATCH (default 512).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
venv_python="$repo_root/.venv-torchrec/bin/python"

if ! { [ -x "$venv_python" ] && "$venv_python" -c "import torchrec, fbgemm_gpu" 2>/dev/null; }; then
  "$here/setup_venv.sh" --cpu
fi

result="$(mktemp /tmp/squeeze-torchrec-smoke.XXXXXX.json)"
trap 'rm -f "$result"' EXIT
PYTHON="$venv_python" "$here/launch.sh" --cpu --master-port "${SMOKE_PORT:-29531}" -- \
  --steps "${SMOKE_STEPS:-200}" --batch-size "${SMOKE_BATCH:-512}" --log-every 25 \
  --eval-batches 16 --json-out "$result" "$@"

"$venv_python" - "$result" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
first, last, auc = r["first_window_loss"], r["last_window_loss"], r["eval_auc"]
print(f"smoke: loss {first:.4f} -> {last:.4f}, held-out AUC {auc:.4f} "
      f"(teacher {r['teacher_auc']:.4f}), {r['samples_per_second']:,.0f} samples/s")
failures = []
if not last < first:
    failures.append("the loss did not go down")
if not auc > 0.6:
    failures.append("the held-out AUC is not above 0.6")
if failures:
    print("smoke: FAILED: " + "; ".join(failures))
    sys.exit(1)
print("smoke: passed")
EOF
