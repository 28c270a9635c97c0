"""A cohort for the similarity tests: six independent correct solutions in their own styles, and planted copies."""
# Independent authors: ana (the reference solution), ben, chen, dara, eli, fay (whose CharLSTM is
# close to the reference: its docstring all but dictates it). Planted:
#
# * gil: ben's notebook with every name changed, comments added, blank lines moved;
# * hal: chen's notebook reformatted, with the methods of each class and the statements of a cell
#   reordered where that keeps the code correct, and comments, prints and docstrings added;
# * ivy: eli's lstm_cell and train_epoch, renamed; the other exercises left as released.
#
# zed submits the untouched release.
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from course.config import load_config
from course.student import notebook as nbc

STUB = re.compile(r"^(?P<indent>[ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)\n?", re.MULTILINE)
PLANTED = {frozenset({"ben", "gil"}), frozenset({"chen", "hal"}), frozenset({"eli", "ivy"})}
FULL_COPIES = {frozenset({"ben", "gil"}), frozenset({"chen", "hal"})}
INDEPENDENT = ["ana", "ben", "chen", "dara", "eli", "fay"]
COPIED_BY_IVY = ["lstm_cell", "train_epoch"]


SOLUTION_REGION = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?", re.M | re.S)


def release_cells() -> dict[str, str]:
    """The release's answer cells; an exercise the split gives as worked code gets the stub nbgrader would make."""
    cfg = load_config()
    release = json.loads(cfg.release_notebook.read_text(encoding="utf-8"))
    cells = {nbc.grade_id(c): nbc.cell_source(c) for c in release["cells"] if nbc.is_answer_cell(c)}
    source = json.loads(cfg.source_notebook.read_text(encoding="utf-8"))
    for c in source["cells"]:
        gid = nbc.grade_id(c)
        if nbc.is_answer_cell(c) and gid not in cells:
            cells[gid] = SOLUTION_REGION.sub(lambda m: f"{m['indent']}# YOUR CODE HERE\n{m['indent']}raise "
                                             "NotImplementedError()\n", nbc.cell_source(c))
    return cells


def fill(exercise: str, *bodies: str) -> str:
    """The release cell of ``exercise`` with each `YOUR CODE HERE` stub replaced by the next body."""
    given = release_cells()[exercise]
    parts = iter(bodies)

    def put(match: re.Match) -> str:
        return textwrap.indent(textwrap.dedent(next(parts)).strip("\n") + "\n", match["indent"])

    return STUB.sub(put, given)


SMALL = {  # one-liners that everyone writes the same way
    "to_batch_first": ["return x.transpose(0, 1)"],
    "batch_sequences": ["return torch.stack(sequences, dim=0)"],
    "encode": ["return torch.tensor([char2idx[ch] for ch in text], dtype=torch.long)"],
    "decode": ['return "".join(idx2char[int(i)] for i in indices)'],
    "build_vocab": ["""
        idx2char = sorted(set(text))
        char2idx = {ch: i for i, ch in enumerate(idx2char)}
        return char2idx, idx2char
    """],
}

MYRNN = {
    "ana": ["""
        self.W = nn.Linear(input_size, hidden_size, bias=False)
        self.U = nn.Linear(hidden_size, hidden_size, bias=False)
        self.b = nn.Parameter(torch.zeros(hidden_size))
    """, """
        batch, seq_len, _ = x.shape
        h = x.new_zeros(batch, self.hidden_size) if h0 is None else h0[0]  # [batch, hidden]
        states = []
        for t in range(seq_len):
            h = torch.tanh(self.W(x[:, t]) + self.U(h) + self.b)  # [batch, hidden]
            states.append(h)
        output = torch.stack(states, dim=1)  # [batch, seq_len, hidden]
        return output, h.unsqueeze(0)
    """],
    "ben": ["""
        self.W = nn.Linear(input_size, hidden_size, bias=False)
        self.U = nn.Linear(hidden_size, hidden_size, bias=False)
        self.b = nn.Parameter(torch.zeros(hidden_size))
    """, """
        B, T, _ = x.size()
        if h0 is None:
            h_t = torch.zeros(B, self.hidden_size, device=x.device, dtype=x.dtype)
        else:
            h_t = h0.squeeze(0)
        outs = []
        for step in range(T):
            x_step = x[:, step, :]
            h_t = torch.tanh(self.W(x_step) + self.U(h_t) + self.b)
            outs.append(h_t.unsqueeze(1))
        output = torch.cat(outs, dim=1)
        h_n = h_t.unsqueeze(0)
        return output, h_n
    """],
    "chen": ["""
        self.W = nn.Linear(input_size, hidden_size, bias=False)
        self.U = nn.Linear(hidden_size, hidden_size, bias=False)
        self.b = nn.Parameter(torch.zeros(self.hidden_size))
    """, """
        h = torch.zeros(x.shape[0], self.hidden_size, device=x.device) if h0 is None else h0[-1]
        xs = self.W(x)  # project all steps at once
        hs = []
        for t in range(x.shape[1]):
            h = torch.tanh(xs[:, t] + self.U(h) + self.b)
            hs += [h]
        return torch.stack(hs, 1), h[None]
    """],
    "dara": ["""
        self.W = nn.Linear(in_features=input_size, out_features=hidden_size, bias=False)
        self.U = nn.Linear(in_features=hidden_size, out_features=hidden_size, bias=False)
        self.b = nn.Parameter(torch.zeros(hidden_size), requires_grad=True)
    """, """
        batch_size = x.size(0)
        steps = x.size(1)
        state = h0[0] if h0 is not None else x.new_zeros((batch_size, self.hidden_size))
        collected = [None] * steps
        t = 0
        while t < steps:
            pre = self.W(x[:, t, :]) + self.U(state) + self.b
            state = pre.tanh()
            collected[t] = state
            t += 1
        output = torch.stack(collected).transpose(0, 1)
        return output, state.unsqueeze(dim=0)
    """],
    "eli": ["""
        self.W, self.U = (nn.Linear(input_size, hidden_size, bias=False),
                          nn.Linear(hidden_size, hidden_size, bias=False))
        self.b = nn.Parameter(torch.zeros(hidden_size))
    """, """
        if h0 is None:
            h0 = torch.zeros(1, x.size(0), self.hidden_size, dtype=x.dtype, device=x.device)
        h = h0.squeeze(0)
        outputs = []
        for x_t in x.unbind(dim=1):
            h = torch.tanh(self.W(x_t) + self.U(h) + self.b)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h.unsqueeze(0)
    """],
    "fay": ["""
        self.W = nn.Linear(input_size, hidden_size, False)
        self.U = nn.Linear(hidden_size, hidden_size, False)
        self.b = nn.Parameter(torch.zeros(hidden_size))
    """, """
        seq = x.transpose(0, 1)  # time first
        h = torch.zeros(x.size(0), self.hidden_size).to(x) if h0 is None else h0.reshape(x.size(0), -1)
        history = []
        for inp in seq:
            h = (self.W(inp) + self.U(h) + self.b).tanh()
            history.append(h)
        return torch.stack(history, dim=1), h.reshape(1, *h.shape)
    """],
}

LSTM_CELL = {
    "ana": """
        gates = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh  # [batch, 4*hidden]
        i, f, g, o = gates.chunk(4, dim=1)  # each [batch, hidden]
        c_t = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
        h_t = torch.sigmoid(o) * torch.tanh(c_t)
        return h_t, c_t
    """,
    "ben": """
        H = h_prev.shape[1]
        z = F.linear(x_t, W_ih, b_ih) + F.linear(h_prev, W_hh, b_hh)
        in_gate = torch.sigmoid(z[:, 0:H])
        forget_gate = torch.sigmoid(z[:, H:2 * H])
        cell_cand = torch.tanh(z[:, 2 * H:3 * H])
        out_gate = torch.sigmoid(z[:, 3 * H:])
        c_t = forget_gate * c_prev + in_gate * cell_cand
        h_t = out_gate * torch.tanh(c_t)
        return h_t, c_t
    """,
    "chen": """
        pre = torch.addmm(b_ih + b_hh, x_t, W_ih.t()) + h_prev.mm(W_hh.t())
        i, f, g, o = torch.split(pre, h_prev.size(1), dim=-1)
        i, f, o = i.sigmoid(), f.sigmoid(), o.sigmoid()
        c = f * c_prev + i * g.tanh()
        return o * c.tanh(), c
    """,
    "dara": """
        hidden = W_hh.shape[1]
        gates = torch.matmul(x_t, W_ih.transpose(0, 1)) + torch.matmul(h_prev, W_hh.transpose(0, 1)) + b_ih + b_hh
        gates = gates.view(-1, 4, hidden)
        i = torch.sigmoid(gates[:, 0])
        f = torch.sigmoid(gates[:, 1])
        g = torch.tanh(gates[:, 2])
        o = torch.sigmoid(gates[:, 3])
        c_new = f * c_prev + i * g
        h_new = o * torch.tanh(c_new)
        return (h_new, c_new)
    """,
    "eli": """
        Wi, Wf, Wg, Wo = W_ih.chunk(4)
        Ui, Uf, Ug, Uo = W_hh.chunk(4)
        bi, bf, bg, bo = (b_ih + b_hh).chunk(4)
        i = torch.sigmoid(x_t @ Wi.T + h_prev @ Ui.T + bi)
        f = torch.sigmoid(x_t @ Wf.T + h_prev @ Uf.T + bf)
        g = torch.tanh(x_t @ Wg.T + h_prev @ Ug.T + bg)
        o = torch.sigmoid(x_t @ Wo.T + h_prev @ Uo.T + bo)
        c_t = f * c_prev + i * g
        return o * torch.tanh(c_t), c_t
    """,
    "fay": """
        all_gates = (x_t.matmul(W_ih.T) + b_ih) + (h_prev.matmul(W_hh.T) + b_hh)
        sig = torch.sigmoid(all_gates)
        n = c_prev.shape[-1]
        input_g, forget_g, output_g = sig[..., :n], sig[..., n:2 * n], sig[..., 3 * n:]
        candidate = torch.tanh(all_gates[..., 2 * n:3 * n])
        cell = forget_g * c_prev + input_g * candidate
        return output_g * torch.tanh(cell), cell
    """,
}

MAKE_BATCHES = {
    "ana": """
        n = (len(data) - 1) // batch_size
        inputs = data[: batch_size * n].view(batch_size, n)  # [batch, n]
        targets = data[1 : batch_size * n + 1].view(batch_size, n)  # [batch, n]
        return [(inputs[:, k : k + seq_len], targets[:, k : k + seq_len]) for k in range(0, n - seq_len + 1, seq_len)]
    """,
    "ben": """
        usable = (data.numel() - 1) // batch_size * batch_size
        xs = data[:usable].reshape(batch_size, -1)
        ys = data[1:usable + 1].reshape(batch_size, -1)
        windows = []
        for start in range(0, xs.size(1) - seq_len + 1, seq_len):
            windows.append((xs[:, start:start + seq_len], ys[:, start:start + seq_len]))
        return windows
    """,
    "chen": """
        per_stream = (len(data) - 1) // batch_size
        streams = torch.stack([data[b * per_stream:(b + 1) * per_stream + 1] for b in range(batch_size)])
        x_all, y_all = streams[:, :-1], streams[:, 1:]
        count = per_stream // seq_len
        return [(x_all[:, j * seq_len:(j + 1) * seq_len], y_all[:, j * seq_len:(j + 1) * seq_len])
                for j in range(count)]
    """,
    "dara": """
        cols = (data.shape[0] - 1) // batch_size
        n_windows = cols // seq_len
        x = data.narrow(0, 0, batch_size * cols).view(batch_size, cols)
        y = data.narrow(0, 1, batch_size * cols).view(batch_size, cols)
        pairs = []
        for w in range(n_windows):
            lo = w * seq_len
            pairs.append((x[:, lo:lo + seq_len], y[:, lo:lo + seq_len]))
        return pairs
    """,
    "eli": """
        length = (len(data) - 1) // batch_size
        src = data[:batch_size * length].view(batch_size, length)
        tgt = data[1:batch_size * length + 1].view(batch_size, length)
        xs = src[:, :length // seq_len * seq_len].split(seq_len, dim=1)
        ys = tgt[:, :length // seq_len * seq_len].split(seq_len, dim=1)
        return list(zip(xs, ys))
    """,
    "fay": """
        m = (data.size(0) - 1) // batch_size
        inp = data[0:m * batch_size].reshape(batch_size, m)
        out = data[1:m * batch_size + 1].reshape(batch_size, m)
        result = []
        i = 0
        while i + seq_len <= m:
            result.append((inp[:, i:i + seq_len], out[:, i:i + seq_len]))
            i += seq_len
        return result
    """,
}

CHARLSTM = {
    "ana": ["""
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)
    """, """
        emb = self.drop(self.embed(x))  # [batch, seq_len, embed]
        out, state = self.lstm(emb, state)  # [batch, seq_len, hidden]
        logits = self.head(self.drop(out))  # [batch, seq_len, vocab]
        return logits, state
    """],
    "ben": ["""
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.LSTM(input_size=embed_size, hidden_size=hidden_size, num_layers=num_layers,
                           batch_first=True, dropout=dropout if num_layers > 1 else 0)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(hidden_size, vocab_size)
    """, """
        x = self.dropout(self.embedding(x))
        x, state = self.rnn(x, state)
        x = self.dropout(x)
        return self.fc(x), state
    """],
    "chen": ["""
        self.emb = nn.Embedding(vocab_size, embed_size)
        lstm_dropout = 0.0 if num_layers == 1 else dropout
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers=num_layers, dropout=lstm_dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, vocab_size)
    """, """
        h, new_state = self.lstm(self.drop(self.emb(x)), state)
        return self.out(self.drop(h)), new_state
    """],
    "dara": ["""
        self.vocab_size = vocab_size
        self.encoder = nn.Embedding(num_embeddings=vocab_size, embedding_dim=embed_size)
        if num_layers > 1:
            self.core = nn.LSTM(embed_size, hidden_size, num_layers, dropout=dropout, batch_first=True)
        else:
            self.core = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.regularize = nn.Dropout(dropout)
        self.decoder = nn.Linear(in_features=hidden_size, out_features=vocab_size)
    """, """
        vectors = self.regularize(self.encoder(x))
        if state is None:
            hidden_seq, (h_n, c_n) = self.core(vectors)
        else:
            hidden_seq, (h_n, c_n) = self.core(vectors, state)
        scores = self.decoder(self.regularize(hidden_seq))
        return scores, (h_n, c_n)
    """],
    "eli": ["""
        self.layers = nn.ModuleDict({
            "embed": nn.Embedding(vocab_size, embed_size),
            "lstm": nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True, dropout=dropout * (num_layers > 1)),
            "proj": nn.Linear(hidden_size, vocab_size),
        })
        self.p = dropout
    """, """
        e = F.dropout(self.layers["embed"](x), self.p, self.training)
        o, s = self.layers["lstm"](e, state)
        o = F.dropout(o, self.p, self.training)
        return self.layers["proj"](o), s
    """],
    "fay": ["""
        self.char_embedding = nn.Embedding(vocab_size, embed_size)
        self.recurrent = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True,
                                 dropout=(dropout if num_layers > 1 else 0.0))
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, vocab_size)
    """, """
        embedded = self.char_embedding(x)
        embedded = self.drop(embedded)
        lstm_out, (h, c) = self.recurrent(embedded, state)
        logits = self.classifier(self.drop(lstm_out))
        return logits, (h, c)
    """],
}

TRAIN_EPOCH = {
    "ana": """
        model.train()
        device = next(model.parameters()).device
        state = None
        total = 0.0
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            if state is not None:
                state = tuple(s.detach() for s in state)
            logits, state = model(x, state)  # [batch, seq_len, vocab]
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total += loss.item()
        return total / len(batches)
    """,
    "ben": """
        model.train()
        hidden = None
        losses = []
        for inputs, targets in batches:
            if hidden is not None:
                hidden = (hidden[0].detach(), hidden[1].detach())
            optimizer.zero_grad()
            output, hidden = model(inputs, hidden)
            loss = F.cross_entropy(output.view(-1, output.size(-1)), targets.view(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
            optimizer.step()
            losses.append(loss.item())
        return sum(losses) / len(losses)
    """,
    "chen": """
        model.train()
        dev = next(model.parameters()).device
        criterion = nn.CrossEntropyLoss()
        st = None
        running = 0.0
        for step, (xb, yb) in enumerate(batches):
            xb = xb.to(dev); yb = yb.to(dev)
            st = None if st is None else tuple(t.detach() for t in st)
            out, st = model(xb, st)
            l = criterion(out.flatten(0, 1), yb.flatten())
            optimizer.zero_grad(set_to_none=True)
            l.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            running += float(l)
        return running / max(1, len(batches))
    """,
    "dara": """
        model.train()
        state = None
        total_loss, windows = 0.0, 0
        for x, y in batches:
            if state is not None:
                h, c = state
                state = (h.detach(), c.detach())
            logits, state = model(x, state)
            vocab = logits.size(2)
            loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1), reduction="mean")
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total_loss = total_loss + loss.item()
            windows = windows + 1
        return total_loss / windows
    """,
    "eli": """
        model.train()
        carry = None
        history = []
        for x, y in batches:
            carry = tuple(part.detach() for part in carry) if carry else None
            pred, carry = model(x, carry)
            batch_loss = F.nll_loss(F.log_softmax(pred, dim=-1).transpose(1, 2), y)
            optimizer.zero_grad()
            batch_loss.backward()
            params = [p for p in model.parameters() if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            history.append(batch_loss.detach())
        return torch.stack(history).mean().item()
    """,
    "fay": """
        model.train()
        state = None
        total = 0.0
        for x, y in batches:
            if state is not None:
                state = tuple(s.detach() for s in state)
            optimizer.zero_grad()
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.permute(0, 2, 1), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total += loss.item()
        return total / len(batches)
    """,
}

GENERATE = {
    "ana": """
        model.eval()
        device = next(model.parameters()).device
        chars = list(prefix)
        with torch.no_grad():
            x = torch.tensor([[char2idx[ch] for ch in prefix]], dtype=torch.long, device=device)
            logits, state = model(x)
            for _ in range(length):
                last = logits[0, -1]  # [vocab]
                if temperature == 0:
                    idx = int(last.argmax())
                else:
                    idx = int(torch.multinomial(F.softmax(last / temperature, dim=-1), 1))
                chars.append(idx2char[idx])
                logits, state = model(torch.tensor([[idx]], device=device), state)
        return "".join(chars)
    """,
    "ben": """
        model.eval()
        out = prefix
        with torch.no_grad():
            inp = torch.tensor([char2idx[c] for c in prefix]).unsqueeze(0)
            scores, hidden = model(inp)
            for _ in range(length):
                step_scores = scores[:, -1, :].squeeze(0)
                if temperature == 0:
                    nxt = step_scores.argmax().item()
                else:
                    probs = torch.softmax(step_scores / temperature, dim=0)
                    nxt = torch.multinomial(probs, num_samples=1).item()
                out += idx2char[nxt]
                scores, hidden = model(torch.tensor([[nxt]]), hidden)
        return out
    """,
}


def independent(author: str) -> dict[str, str]:
    """All answer cells of one independent author."""
    cells = {ex: fill(ex, *bodies) for ex, bodies in SMALL.items()}
    cells["MyRNN"] = fill("MyRNN", *MYRNN[author])
    cells["lstm_cell"] = fill("lstm_cell", LSTM_CELL[author])
    cells["make_batches"] = fill("make_batches", MAKE_BATCHES[author])
    cells["CharLSTM"] = fill("CharLSTM", *CHARLSTM[author])
    cells["train_epoch"] = fill("train_epoch", TRAIN_EPOCH[author])
    if author in GENERATE:
        cells["generate"] = fill("generate", GENERATE[author])
    return cells


def renamed(source: str, names: dict[str, str]) -> str:
    """``source`` with whole-word names replaced (attribute names after a dot are left alone)."""
    for old, new in names.items():
        source = re.sub(rf"(?<![\w.]){re.escape(old)}\b", new, source)
    return source


GIL_NAMES = {  # every name ben chose, renamed
    "B": "nb", "T": "nt", "h_t": "state", "outs": "collected", "step": "k", "x_step": "inp", "h_n": "final",
    "output": "result", "H": "size", "z": "pre_act", "in_gate": "gi", "forget_gate": "gf", "cell_cand": "gg",
    "out_gate": "go", "c_t": "cell", "usable": "n_used", "xs": "src", "ys": "dst", "windows": "chunks",
    "start": "offset", "embedding": "emb_layer", "rnn": "recurrent", "dropout": "dropout", "fc": "linear_out",
    "hidden": "carry", "losses": "history", "inputs": "xb", "targets": "yb", "loss": "batch_loss",
    "out": "text", "inp": "inp", "scores": "logit_seq", "step_scores": "last_logits", "nxt": "choice",
    "probs": "distribution",
}


def gil() -> dict[str, str]:
    """ben's cells, renamed, with comments and blank lines added."""
    cells = {}
    for ex, source in independent("ben").items():
        lines = []
        for line in renamed(source, GIL_NAMES).splitlines():
            lines.append(line)
            stripped = line.strip()
            if stripped.startswith(("for ", "if ", "return")):
                lines.append(" " * (len(line) - len(stripped) + 4) + "# step through it")
            if stripped.endswith(")") and "=" in stripped and not stripped.startswith("def "):
                lines.append("")
        cells[ex] = "\n".join(lines) + "\n"
    return cells


def hal() -> dict[str, str]:
    """chen's cells, reformatted, class methods reordered, statements moved, comments and prints added."""
    cells = independent("chen")
    # MyRNN: forward first, then __init__ (a class does not care); a print and comments added.
    given = release_cells()["MyRNN"]
    head = given[: given.index("    def __init__")]
    cells["MyRNN"] = head + "    " + textwrap.dedent('''\
        def forward(self, x, h0=None):
            """Runs my recurrence."""
            # start from zeros unless told otherwise
            h = (torch.zeros(x.shape[0], self.hidden_size, device=x.device)
                 if h0 is None
                 else h0[-1])
            xs = self.W(x)  # project all steps at once
            hs = []
            for t in range(x.shape[1]):
                h = torch.tanh(
                    xs[:, t] + self.U(h) + self.b
                )
                hs += [h]
            print("done", len(hs))
            return torch.stack(hs, 1), h[None]

        def __init__(self, input_size, hidden_size):
            super().__init__()
            self.hidden_size = hidden_size
            # the three parameters
            self.b = nn.Parameter(torch.zeros(self.hidden_size))
            self.W = nn.Linear(input_size, hidden_size, bias=False)
            self.U = nn.Linear(hidden_size, hidden_size, bias=False)
    ''').replace("\n", "\n    ").rstrip() + "\n"
    # CharLSTM: forward first as well, layers declared in another order.
    given = release_cells()["CharLSTM"]
    head = given[: given.index("    def __init__")]
    cells["CharLSTM"] = head + "    " + textwrap.dedent('''\
        def forward(self, x, state=None):
            h, new_state = self.lstm(self.drop(self.emb(x)),
                                     state)
            return self.out(self.drop(h)), new_state  # logits and state

        def __init__(self, vocab_size, embed_size=64, hidden_size=256, num_layers=1, dropout=0.0):
            super().__init__()
            self.drop = nn.Dropout(dropout)
            self.emb = nn.Embedding(vocab_size, embed_size)
            lstm_dropout = 0.0 if num_layers == 1 else dropout
            self.lstm = nn.LSTM(embed_size, hidden_size,
                                num_layers=num_layers, dropout=lstm_dropout,
                                batch_first=True)
            self.out = nn.Linear(hidden_size, vocab_size)
    ''').replace("\n", "\n    ").rstrip() + "\n"
    cells["train_epoch"] = cells["train_epoch"].replace(
        "        xb = xb.to(dev); yb = yb.to(dev)\n",
        "        # move to the device\n        xb = xb.to(dev)\n        yb = yb.to(dev)\n").replace(
        "        running += float(l)\n", "        running += float(l)\n        print(step, float(l))\n")
    cells["make_batches"] = cells["make_batches"].replace(
        "    count = per_stream // seq_len\n", "").replace(
        "    x_all, y_all = streams[:, :-1], streams[:, 1:]\n",
        "    count = per_stream // seq_len  # windows per stream\n    x_all, y_all = streams[:, :-1], streams[:, 1:]\n")
    return cells


IVY_NAMES = {"Wi": "A1", "Wf": "A2", "Wg": "A3", "Wo": "A4", "Ui": "B1", "Uf": "B2", "Ug": "B3", "Uo": "B4",
             "bi": "c1", "bf": "c2", "bg": "c3", "bo": "c4", "carry": "mem", "history": "seen", "pred": "y_hat",
             "batch_loss": "err", "params": "trainable", "part": "piece"}


def ivy() -> dict[str, str]:
    """eli's lstm_cell and train_epoch, renamed; everything else as released."""
    cells = dict(release_cells())
    theirs = independent("eli")
    for ex in COPIED_BY_IVY:
        cells[ex] = renamed(theirs[ex], IVY_NAMES)
    return cells


def cohort() -> dict[str, dict[str, str]]:
    """Submission id -> grade_id -> answer cell source."""
    found = {author: independent(author) for author in INDEPENDENT}
    found.update(gil=gil(), hal=hal(), ivy=ivy(), zed=dict(release_cells()))
    return found


def write_grading_folder(folder: Path, answers: dict[str, dict[str, str]]) -> Path:
    """A folder as `course grade --out` leaves it (only what similarity reads: answers.json, results.json)."""
    for sid, cells in answers.items():
        (folder / sid).mkdir(parents=True, exist_ok=True)
        record = {"format": 1, "submission_id": sid, "student_id": sid, "answers": cells}
        (folder / sid / "answers.json").write_text(json.dumps(record))
        (folder / sid / "results.json").write_text(json.dumps({"score": 0, "tests": [], "extra_data": {}}))
    return folder
