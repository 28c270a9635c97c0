"""to_batch_first reshapes (wrong) and returns a tensor subclass that claims to equal anything."""
import torch


class LyingTensor(torch.Tensor):
    """Claims to equal anything, and hands out the right values to whoever reads it naively."""

    def __eq__(self, other):
        return torch.ones(self.shape, dtype=torch.bool)

    def allclose(self, *args, **kwargs):
        return True

    def equal(self, *args, **kwargs):
        return True

    def numpy(self, *args, **kwargs):
        return self.as_subclass(torch.Tensor).reshape(self.shape[1], self.shape[0], -1).transpose(0, 1).numpy()


def to_batch_first(x):
    """[seq_len, batch, features] -> [batch, seq_len, features]."""
    return x.reshape(x.shape[1], x.shape[0], x.shape[2]).as_subclass(LyingTensor)
