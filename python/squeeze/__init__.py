"""Squeeze's Python side: tools around the NCCL net plugin.

Command line: python -m squeeze {env, check, stats, plots} (squeeze/__main__.py).

Modules:
  squeeze.plugin  finds the plugin (the wheel installs it as squeeze/lib/libnccl-net-squeeze.so),
                  the lines that turn it on, a check that loads it as NCCL does (ctypes)
  squeeze.stats   summaries of the plugin's statistics (NCCL_SQUEEZE_STATS_FILE JSON lines)
  squeeze.plots   squeeze-plots: PNGs from squeeze-bench / squeeze-a2a JSON and statistics
  squeeze.codec   ctypes binding to libsqueeze_c (numpy); squeeze.frames, squeeze.torchrec on it
  squeeze.model   squeeze-model's modeled step speedup

Subpackages:
  squeeze.dlrm  the project's own DLRM (plain PyTorch, CPU), synthetic Criteo-like data, and an
                in-process emulation of TorchRec's table-wise pooled-embedding all-to-all with
                hooks on every cross-rank block (for fidelity studies and payload corpora).
"""
