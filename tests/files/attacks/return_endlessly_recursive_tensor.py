"""encode returns a tensor subclass whose __torch_function__ calls itself for ever."""
import torch


class Endless(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))  # calls itself again through the override


def encode(text, char2idx):
    return torch.tensor([char2idx[c] for c in text]).as_subclass(Endless)
