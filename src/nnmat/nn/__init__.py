"""nnmat.nn: layers, models, optimizers and a training loop on nnmat's kernels."""
