#!/usr/bin/env bash
# Creates the Python environment for the TorchRec example at <repo>/.venv-torchrec (git-ignored).
#
#   examples/torchrec/setup_venv.sh          CPU smoke test: fbgemm-gpu-cpu (gloo backend)
#   examples/torchrec/setup_venv.sh --gpu    GPU nodes: fbgemm-gpu (nccl backend)
#
# The versions are pinned as a set: FBGEMM's compiled operators only load into the PyTorch release
# they were built against (fbgemm_gpu 1.9 <-> torch 2.14), and torchrec 1.9 goes with fbgemm_gpu 1.9.
# torch from PyPI is the CUDA 13 build on Linux (there is no CPU-only torch wheel on PyPI), so its
# CUDA runtime packages are installed even for the CPU smoke test: the library will not import
# without them. That is about 3 GB on disk.
# Environment: PYTHON (interpreter for the venv, default python3), VENV (default <repo>/.venv-torchrec).
set -euo pipefail

TORCH_VERSION=2.14.1
FBGEMM_VERSION=1.9.0
TORCHREC_VERSION=1.9.2
TORCHMETRICS_VERSION=1.0.3 # torchrec 1.9.2 pins it

variant=cpu
for arg in "$@"; do
  case "$arg" in
    --gpu) variant=gpu ;;
    --cpu) variant=cpu ;;
    -h | --help)
      sed -n '2,12p' "$0"
      exit 0
      ;;
    *)
      echo "setup_venv.sh: unknown argument '$arg' (use --cpu or --gpu)" >&2
      exit 2
      ;;
  esac
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${VENV:-$repo_root/.venv-torchrec}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "setup_venv: creating $venv with $("$python" --version 2>&1)"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip)

if [ "$variant" = gpu ]; then
  fbgemm_pkg="fbgemm-gpu==$FBGEMM_VERSION"
  stale_pkg="fbgemm-gpu-cpu"
else
  fbgemm_pkg="fbgemm-gpu-cpu==$FBGEMM_VERSION"
  stale_pkg="fbgemm-gpu"
fi
# Both FBGEMM variants install the same fbgemm_gpu/ package directory; keep only one.
if "${pip[@]}" show -q "$stale_pkg" >/dev/null 2>&1; then
  "${pip[@]}" uninstall -y -q "$stale_pkg"
fi

echo "setup_venv: installing torch==$TORCH_VERSION $fbgemm_pkg torchrec==$TORCHREC_VERSION"
"${pip[@]}" install -q "torch==$TORCH_VERSION" "$fbgemm_pkg" numpy
# torchrec declares a dependency on the CUDA fbgemm-gpu package, which would replace the CPU one:
# install it without dependencies and add the ones it really needs by hand.
"${pip[@]}" install -q --no-deps "torchrec==$TORCHREC_VERSION"
"${pip[@]}" install -q tensordict "torchmetrics==$TORCHMETRICS_VERSION" tqdm pyre-extensions

"$venv/bin/python" - <<'EOF'
import torch, fbgemm_gpu, torchrec  # noqa: F401
from importlib.metadata import version
names = ["torch", "torchrec", "fbgemm-gpu-cpu", "fbgemm-gpu", "tensordict", "torchmetrics"]
found = []
for name in names:
    try:
        found.append(f"{name}=={version(name)}")
    except Exception:
        pass
print("setup_venv: ok: " + " ".join(found) + f" (cuda available: {torch.cuda.is_available()})")
EOF
