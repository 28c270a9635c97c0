"""Student implementations of every exercise, as answer-cell sources: correct, alternative and mutant.

CORRECT holds one right answer per exercise; ALTERNATIVES other right answers that must keep
full marks; MUTANTS realistic mistakes, each with the exercise that must lose points and a
phrase its feedback must contain.
"""
from __future__ import annotations

from dataclasses import dataclass

SETUP = """
import math
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
"""

CORRECT = {
    "MyRNN": '''
class MyRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.W = nn.Linear(input_size, hidden_size, bias=False)
        self.U = nn.Linear(hidden_size, hidden_size, bias=False)
        self.b = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x, h0=None):
        batch, seq_len, _ = x.shape
        h = x.new_zeros(batch, self.hidden_size) if h0 is None else h0[0]
        outputs = []
        for t in range(seq_len):
            h = torch.tanh(self.W(x[:, t]) + self.U(h) + self.b)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h.unsqueeze(0)
''',
    "lstm_cell": '''
def lstm_cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    gates = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    i, f, g, o = gates.chunk(4, dim=1)
    c_t = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    h_t = torch.sigmoid(o) * torch.tanh(c_t)
    return h_t, c_t
''',
    "to_batch_first": '''
def to_batch_first(x):
    return x.transpose(0, 1)
''',
    "batch_sequences": '''
def batch_sequences(sequences):
    return torch.stack(sequences)
''',
    "rnn_output_shapes": '''
def rnn_output_shapes(batch_size, seq_len, input_size, hidden_size, num_layers=1, bidirectional=False, batch_first=True):
    d = 2 if bidirectional else 1
    output = (batch_size, seq_len, d * hidden_size) if batch_first else (seq_len, batch_size, d * hidden_size)
    return output, (num_layers * d, batch_size, hidden_size)
''',
    "top_layer_final_state": '''
def top_layer_final_state(h_n, num_layers, bidirectional):
    if bidirectional:
        return torch.cat([h_n[-2], h_n[-1]], dim=1)
    return h_n[-1]
''',
    "final_state_from_output": '''
def final_state_from_output(output, bidirectional):
    if not bidirectional:
        return output[:, -1]
    hidden = output.shape[-1] // 2
    return torch.cat([output[:, -1, :hidden], output[:, 0, hidden:]], dim=1)
''',
    "build_vocab": '''
def build_vocab(text):
    idx2char = sorted(set(text))
    char2idx = {c: i for i, c in enumerate(idx2char)}
    return char2idx, idx2char
''',
    "encode": '''
def encode(text, char2idx):
    return torch.tensor([char2idx[c] for c in text], dtype=torch.long)
''',
    "decode": '''
def decode(indices, idx2char):
    return "".join(idx2char[i] for i in indices.tolist())
''',
    "make_batches": '''
def make_batches(data, batch_size, seq_len):
    n = (len(data) - 1) // batch_size
    x = data[: batch_size * n].view(batch_size, n)
    y = data[1: batch_size * n + 1].view(batch_size, n)
    return [(x[:, i:i + seq_len], y[:, i:i + seq_len]) for i in range(0, n - seq_len + 1, seq_len)]
''',
    "CharLSTM": '''
class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embed_size=64, hidden_size=256, num_layers=1, dropout=0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state
''',
    "train_epoch": '''
def train_epoch(model, batches, optimizer, clip=1.0):
    model.train()
    device = next(model.parameters()).device
    state, total = None, 0.0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        if state is not None:
            state = tuple(s.detach() for s in state)
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item()
    return total / len(batches)
''',
    "perplexity": '''
def perplexity(model, batches):
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for x, y in batches:
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    return math.exp(total / count)
''',
    "generate": '''
def generate(model, prefix, length, char2idx, idx2char, temperature=1.0):
    model.eval()
    device = next(model.parameters()).device
    out = list(prefix)
    with torch.no_grad():
        logits, state = model(torch.tensor([[char2idx[c] for c in prefix]], device=device))
        for _ in range(length):
            last = logits[0, -1]
            if temperature == 0:
                idx = int(last.argmax())
            else:
                idx = int(torch.multinomial(F.softmax(last / temperature, dim=-1), 1))
            out.append(idx2char[idx])
            logits, state = model(torch.tensor([[idx]], device=device), state)
    return "".join(out)
''',
}

# Right answers written differently: each must keep full marks.
ALTERNATIVES = {
    "MyRNN": '''
class MyRNN(nn.Module):
    """Preallocated output, input projection vectorised over time, chatty."""

    def __init__(self, input_size, hidden_size):
        super(MyRNN, self).__init__()
        self.W = nn.Linear(input_size, hidden_size, bias=False)
        self.U = nn.Linear(hidden_size, hidden_size, bias=False)
        self.b = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, x, h0=None):
        print("MyRNN.forward on", tuple(x.shape))
        batch, seq_len, _ = x.shape
        hidden = self.b.shape[0]
        xw = self.W(x) + self.b
        output = torch.zeros(batch, seq_len, hidden, dtype=x.dtype)
        h = torch.zeros(batch, hidden) if h0 is None else h0.squeeze(0)
        for t in range(seq_len):
            h = torch.tanh(xw[:, t, :] + self.U(h))
            output[:, t, :] = h
        return output, h[None]
''',
    "lstm_cell": '''
def lstm_cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    hidden = h_prev.shape[1]
    z = F.linear(x_t, W_ih, b_ih) + F.linear(h_prev, W_hh, b_hh)
    i = torch.sigmoid(z[:, :hidden])
    f = torch.sigmoid(z[:, hidden:2 * hidden])
    g = torch.tanh(z[:, 2 * hidden:3 * hidden])
    o = torch.sigmoid(z[:, 3 * hidden:])
    c_t = f * c_prev + i * g
    return o * torch.tanh(c_t), c_t
''',
    "to_batch_first": '''
def to_batch_first(x):
    return x.permute(1, 0, 2).contiguous()
''',
    "batch_sequences": '''
def batch_sequences(sequences):
    out = torch.empty(len(sequences), *sequences[0].shape)
    for i, s in enumerate(sequences):
        out[i] = s
    return out
''',
    "rnn_output_shapes": '''
def rnn_output_shapes(batch_size, seq_len, input_size, hidden_size, num_layers=1, bidirectional=False, batch_first=True):
    num_directions = 1 + int(bidirectional)
    output = torch.Size([batch_size, seq_len, num_directions * hidden_size])
    if not batch_first:
        output = torch.Size([seq_len, batch_size, num_directions * hidden_size])
    return output, torch.Size([num_layers * num_directions, batch_size, hidden_size])
''',
    "top_layer_final_state": '''
def top_layer_final_state(h_n, num_layers, bidirectional):
    d = 2 if bidirectional else 1
    last = h_n.view(num_layers, d, h_n.shape[1], h_n.shape[2])[-1]
    return last.transpose(0, 1).reshape(h_n.shape[1], -1)
''',
    "final_state_from_output": '''
def final_state_from_output(output, bidirectional):
    hidden = output.shape[-1] // 2 if bidirectional else output.shape[-1]
    forward = output[:, -1, :hidden]
    if bidirectional:
        return torch.cat((forward, output[:, 0, hidden:]), -1)
    return forward
''',
    "build_vocab": '''
def build_vocab(text):
    chars = sorted(list(set(text)))
    return dict(zip(chars, range(len(chars)))), chars
''',
    "encode": '''
def encode(text, char2idx):
    return torch.LongTensor(list(map(char2idx.get, text)))
''',
    "decode": '''
def decode(indices, idx2char):
    return "".join([idx2char[int(i)] for i in indices])
''',
    "make_batches": '''
def make_batches(data, batch_size, seq_len):
    n = (len(data) - 1) // batch_size
    batches = []
    for start in range(0, n, seq_len):
        if start + seq_len > n:
            break
        x = torch.stack([data[b * n + start: b * n + start + seq_len] for b in range(batch_size)])
        y = torch.stack([data[b * n + start + 1: b * n + start + seq_len + 1] for b in range(batch_size)])
        batches.append((x, y))
    return batches
''',
    "CharLSTM": '''
class CharLSTM(nn.Module):
    """One-hot inputs instead of an embedding."""

    def __init__(self, vocab_size, embed_size=64, hidden_size=256, num_layers=1, dropout=0.0):
        super().__init__()
        self.vocab_size = vocab_size
        self.lstm = nn.LSTM(vocab_size, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        out, state = self.lstm(F.one_hot(x, self.vocab_size).float(), state)
        return self.fc(out), state
''',
    "train_epoch": '''
def train_epoch(model, batches, optimizer, clip=1.0):
    model.train()
    criterion = nn.CrossEntropyLoss()
    losses = []
    hidden = None
    for x, y in batches:
        if hidden is not None:
            hidden = (hidden[0].detach(), hidden[1].detach())
        model.zero_grad()
        logits, hidden = model(x, hidden)
        loss = criterion(logits.transpose(1, 2), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        optimizer.step()
        losses.append(loss.item())
    print(f"epoch done: {len(losses)} windows")
    return float(np.mean(losses))
''',
    "perplexity": '''
def perplexity(model, batches):
    model.eval()
    nll, n, state = 0.0, 0, None
    with torch.no_grad():
        for x, y in batches:
            logits, state = model(x, state)
            logp = torch.log_softmax(logits, dim=-1)
            nll -= logp.gather(-1, y.unsqueeze(-1)).sum().item()
            n += y.numel()
    return np.exp(nll / n)
''',
    "generate": '''
def generate(model, prefix, length, char2idx, idx2char, temperature=1.0):
    state = None
    text = prefix
    for c in prefix:
        logits, state = model(torch.tensor([[char2idx[c]]]), state)
    for _ in range(length):
        scores = logits[0, -1].detach().double()
        if temperature == 0:
            nxt = int(torch.argmax(scores))
        else:
            p = torch.softmax(scores / temperature, dim=0).numpy()
            nxt = int(np.random.choice(len(p), p=p / p.sum()))
        text += idx2char[nxt]
        logits, state = model(torch.tensor([[nxt]]), state)
    return text
''',
}


@dataclass(frozen=True)
class Mutant:
    """A realistic mistake in one exercise and a phrase its feedback must contain."""

    exercise: str
    source: str
    feedback: str


MUTANTS = {
    "myrnn_without_bias": Mutant("MyRNN", CORRECT["MyRNN"].replace(" + self.b)", ")"), "bias b is missing"),
    "lstm_gate_order_ifog": Mutant("lstm_cell", CORRECT["lstm_cell"].replace("i, f, g, o = ", "i, f, o, g = "),
                                   "(input, forget, output, cell)"),
    "reshape_not_transpose": Mutant("to_batch_first", '''
def to_batch_first(x):
    seq_len, batch, features = x.shape
    return x.reshape(batch, seq_len, features)
''', "only relabels the dimensions"),
    "stack_on_dim_1": Mutant("batch_sequences", CORRECT["batch_sequences"].replace("stack(sequences)", "stack(sequences, dim=1)"),
                             "stacked along dimension 1"),
    "batch_first_h_n": Mutant("rnn_output_shapes", '''
def rnn_output_shapes(batch_size, seq_len, input_size, hidden_size, num_layers=1, bidirectional=False, batch_first=True):
    d = 2 if bidirectional else 1
    if batch_first:
        return (batch_size, seq_len, d * hidden_size), (batch_size, num_layers * d, hidden_size)
    return (seq_len, batch_size, d * hidden_size), (num_layers * d, batch_size, hidden_size)
''', "h_n is never batch-first"),
    "h_n_minus_1_bidirectional": Mutant("top_layer_final_state", '''
def top_layer_final_state(h_n, num_layers, bidirectional):
    return h_n[-1]
''', "h_n[-1] is only the last layer's BACKWARD direction"),
    "output_last_step_backward": Mutant("final_state_from_output", '''
def final_state_from_output(output, bidirectional):
    return output[:, -1]
''', "output[:, -1] holds the backward direction"),
    "unsorted_vocab": Mutant("build_vocab", CORRECT["build_vocab"].replace("sorted(set(text))", "list(dict.fromkeys(text))"),
                             "not in sorted order"),
    "encode_returns_list": Mutant("encode", '''
def encode(text, char2idx):
    return [char2idx[c] for c in text]
''', "should be a torch.Tensor; got list"),
    "decode_returns_list": Mutant("decode", '''
def decode(indices, idx2char):
    return [idx2char[i] for i in indices.tolist()]
''', "should be a str; got list"),
    "overlapping_windows": Mutant("make_batches", CORRECT["make_batches"].replace(
        "range(0, n - seq_len + 1, seq_len)", "range(0, n - seq_len + 1)"), "must not overlap"),
    "charlstm_softmax": Mutant("CharLSTM", CORRECT["CharLSTM"].replace(
        "return self.head(out), state", "return F.softmax(self.head(out), dim=-1), state"), "returns probabilities"),
    "no_state_detach": Mutant("train_epoch", CORRECT["train_epoch"].replace(
        "            state = tuple(s.detach() for s in state)\n", "            pass\n"), "detach it"),
    "perplexity_mean_of_window_means": Mutant("perplexity", '''
def perplexity(model, batches):
    model.eval()
    losses, state = [], None
    with torch.no_grad():
        for x, y in batches:
            logits, state = model(x, state)
            losses.append(F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1)).item())
    return math.exp(sum(losses) / len(losses))
''', "weights every window equally"),
    "generate_ignores_temperature": Mutant("generate", CORRECT["generate"].replace(
        "F.softmax(last / temperature, dim=-1)", "F.softmax(last, dim=-1)"), "temperature"),
}
