"""Neural operators (FNO, LSM, scOT), losses, the trainer and checkpoints."""
