"""Squeeze's Python side: tools around the NCCL net plugin.

Subpackages:
  squeeze.dlrm  the project's own DLRM (plain PyTorch, CPU), synthetic Criteo-like data, and an
                in-process emulation of TorchRec's table-wise pooled-embedding all-to-all with
                hooks on every cross-rank block (for fidelity studies and payload corpora).
"""
