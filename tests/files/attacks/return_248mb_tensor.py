"""encode sends 248 MB of float32 back for every probe."""
import torch


def encode(text, char2idx):
    return torch.zeros(62_000_000)  # 248 MB of float32 sent back for every probe
