"""batch_sequences returns a complex tensor, which the wire format cannot carry."""
import torch


def batch_sequences(sequences):
    return torch.zeros(len(sequences), *sequences[0].shape, dtype=torch.complex64)
