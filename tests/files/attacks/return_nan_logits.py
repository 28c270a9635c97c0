"""A CharLSTM whose logits are all NaN."""
import torch
from torch import nn


class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embed_size=64, hidden_size=256, num_layers=1, dropout=0.0):
        super().__init__()
        self.vocab = vocab_size
        self.head = nn.Linear(1, vocab_size)

    def forward(self, x, state=None):
        return torch.full((x.shape[0], x.shape[1], self.vocab), float("nan")), state
