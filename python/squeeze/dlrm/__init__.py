"""A DLRM in plain PyTorch with an emulated multi-rank table-wise embedding all-to-all.

  data   SyntheticCriteo: Criteo-shaped samples with labels from a fixed hidden teacher
  model  DLRM (dot interaction) and its concatenation variant for mixed table widths
  a2a    TablewiseAllToAll: R emulated ranks in one process, exact [B_p, D_r] blocks, hooks
  train  train(config, seed, ...) -> held-out AUC / logloss, loss curve, timings
  dump   PayloadDump: writes chosen all-to-all blocks as raw little-endian float32 + manifest
"""
