"""Training components: optimiser, schedule, loss, checkpoints, early stopping, logging, the loop."""
