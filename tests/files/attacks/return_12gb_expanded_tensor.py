"""to_batch_first returns an expanded view that would take 12 GB once made contiguous."""
import torch


def to_batch_first(x):
    return torch.zeros(1).expand(3_000_000_000)  # 12 GB once made contiguous
