#!/usr/bin/env bash
# Runs train_dlrm.py under torchrun with Squeeze switched on by the environment alone.
#
# GPU cluster, one command per node (same arguments on every node except --node-rank):
#   examples/torchrec/launch.sh --nnodes 2 --node-rank 0 --master-addr node0 [-- train args]
#   examples/torchrec/launch.sh --nnodes 2 --node-rank 1 --master-addr node0 [-- train args]
# CPU smoke test on this machine (gloo, 2 processes, NCCL and so Squeeze not involved):
#   examples/torchrec/launch.sh --cpu [-- --steps 100]
#
# Options:
#   --cpu                  gloo backend on CPU, 2 local processes (override with --nproc-per-node)
#   --nnodes N             number of nodes (default 1)
#   --node-rank R          this node's index (default 0)
#   --master-addr HOST     address of node 0 (default 127.0.0.1)
#   --master-port PORT     rendezvous port (default 29500)
#   --nproc-per-node G     processes (GPUs) per node (default: number of GPUs, 2 with --cpu)
#   --plugin PATH          libnccl-net-squeeze.so to load (default: <repo>/build/plugin/... if it
#                          exists, else the name "squeeze" resolved through LD_LIBRARY_PATH)
#   --no-squeeze           baseline run: NCCL's own network transport, no plugin
#   --dry-run              print the environment and the command, run nothing
#   --                     everything after it goes to train_dlrm.py (see train_dlrm.py --help)
# Any NCCL_SQUEEZE_* variable already set (MODE, BOUND, MIN_BYTES, ASSUME_DTYPE, CONFIG, ...) is
# passed through unchanged; unset ones keep the plugin's defaults.
# Environment: PYTHON (default <repo>/.venv-torchrec/bin/python, else python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"

cpu=0 nnodes=1 node_rank=0 master_addr=127.0.0.1 master_port=29500 nproc="" plugin=""
squeeze=1 dry_run=0
train_args=()
while (($#)); do
  case "$1" in
    --cpu) cpu=1 ;;
    --nnodes) nnodes="$2"; shift ;;
    --node-rank) node_rank="$2"; shift ;;
    --master-addr) master_addr="$2"; shift ;;
    --master-port) master_port="$2"; shift ;;
    --nproc-per-node) nproc="$2"; shift ;;
    --plugin) plugin="$2"; shift ;;
    --no-squeeze) squeeze=0 ;;
    --dry-run) dry_run=1 ;;
    --) shift; train_args=("$@"); break ;;
    -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "launch.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x "$repo_root/.venv-torchrec/bin/python" ]; then
    python="$repo_root/.venv-torchrec/bin/python"
  else
    python=python3
  fi
fi

if ((cpu)); then
  nproc="${nproc:-2}"
  train_args=(--backend gloo "${train_args[@]}")
  # gloo does not go through NCCL, so the plugin would never be loaded: say so instead of
  # pretending. The CPU run checks the training script and the TorchRec install.
  squeeze=0
  echo "launch.sh: --cpu: gloo backend, $nproc processes; NCCL (and so Squeeze) is not used"
else
  if [ -z "$nproc" ]; then
    nproc="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)"
    [ "${nproc:-0}" -gt 0 ] || { echo "launch.sh: no GPU found (nvidia-smi -L); use --cpu or --nproc-per-node" >&2; exit 2; }
  fi
  train_args=(--backend nccl "${train_args[@]}")
fi

if ((squeeze)); then
  if [ -z "$plugin" ] && [ -f "$repo_root/build/plugin/libnccl-net-squeeze.so" ]; then
    plugin="$repo_root/build/plugin/libnccl-net-squeeze.so"
  fi
  if [ -n "$plugin" ]; then
    [ -f "$plugin" ] || { echo "launch.sh: --plugin $plugin: no such file" >&2; exit 2; }
    plugin="$(cd "$(dirname "$plugin")" && pwd)/$(basename "$plugin")" # NCCL wants an absolute path
    plugin_dir="$(dirname "$plugin")"
    export LD_LIBRARY_PATH="$plugin_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export NCCL_NET_PLUGIN="$plugin"
  else
    export NCCL_NET_PLUGIN=squeeze # NCCL then dlopens libnccl-net-squeeze.so via LD_LIBRARY_PATH
  fi
  # Only the plugin whose struct is named Squeeze may be used: a plugin that fails to load
  # becomes an error ("Failed to initialize any NET plugin") instead of a silent fallback.
  export NCCL_NET=Squeeze
  export NCCL_SQUEEZE_STATS="${NCCL_SQUEEZE_STATS:-1}"
  # PXN lets another GPU's proxy send this GPU's buffers; keep each rank's traffic on its own
  # proxy (docs: nccl-net-api.md section 11).
  export NCCL_PXN_DISABLE="${NCCL_PXN_DISABLE:-1}"
  # NCCL 2.28.9 unloads a plugin named by NCCL_NET_PLUGIN when its last communicator goes away and
  # then forgets the name; keep it loaded.
  export NCCL_NET_PLUGIN_REF_COUNT="${NCCL_NET_PLUGIN_REF_COUNT:-1}"
else
  unset NCCL_NET_PLUGIN NCCL_NET
fi
if ! ((cpu)); then
  export NCCL_DEBUG="${NCCL_DEBUG:-INFO}"
  export NCCL_DEBUG_SUBSYS="${NCCL_DEBUG_SUBSYS:-INIT,NET}"
fi

cmd=("$python" -m torch.distributed.run
  --nnodes "$nnodes" --node-rank "$node_rank" --nproc-per-node "$nproc"
  --master-addr "$master_addr" --master-port "$master_port"
  "$here/train_dlrm.py" "${train_args[@]}")

echo "launch.sh: environment:"
env | grep -E '^(NCCL_|LD_LIBRARY_PATH=)' | sort | sed 's/^/  /' || true
echo "launch.sh: ${cmd[*]}"
((dry_run)) && exit 0
exec "${cmd[@]}"
