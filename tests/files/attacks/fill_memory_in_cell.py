"""Fill memory at the top level of a cell, 256 MB at a time, each tensor touched."""
import torch


def _bomb():
    hoard = []
    while True:
        hoard.append(torch.ones(64 << 20))  # 256 MB, touched


_bomb()
