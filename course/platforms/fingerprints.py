"""Code fingerprints that survive renaming and reformatting: AST tokens, hashed k-grams, winnowing (as in MOSS)."""
from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
import tokenize
import zlib
from dataclasses import dataclass

K = 12  # tokens per k-gram (the noise threshold): about one statement
W = 4  # winnowing window, in k-grams: shared runs of K + W - 1 = 15 tokens are always found
SMALL_INT = 16  # integer literals up to this size are kept (indices, dims); larger ones become "int"
_MAGIC = re.compile(r"^\s*[%!]")  # IPython magics and shell lines
_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class Token:
    """One normalised token and the source line (from 1) it comes from."""

    text: str
    line: int


@dataclass(frozen=True)
class Fingerprint:
    """A selected k-gram: its hash and the source lines it spans."""

    hash: int
    first_line: int
    last_line: int


# --- tokens --------------------------------------------------------------------------------------------


def _without_magics(source: str) -> str:
    """Magic and shell lines blanked (line numbers kept), so that the rest still parses."""
    return "\n".join("" if _MAGIC.match(line) else line for line in source.splitlines())


def _bound(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names the code binds itself, and attribute names it assigns (``self.x = ...``)."""
    names: set[str] = set()
    attrs: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            attrs.add(node.attr)
    return names, attrs


def _constant(value: object) -> str:
    if isinstance(value, bool) or value is None or value is Ellipsis:
        return repr(value)
    if isinstance(value, int):
        return str(value) if abs(value) <= SMALL_INT else "int"
    return type(value).__name__  # str, bytes, float, complex: the value is not structure


def _label(node: ast.AST, names: set[str], attrs: set[str]) -> str:
    if isinstance(node, ast.Name):
        return "V" if node.id in names else node.id
    if isinstance(node, ast.Attribute):
        return ".A" if node.attr in attrs else "." + node.attr
    if isinstance(node, ast.Constant):
        return _constant(node.value)
    if isinstance(node, ast.keyword):
        return f"{node.arg}=" if node.arg else "**"
    if isinstance(node, ast.alias):
        return "import " + node.name
    if isinstance(node, ast.ImportFrom):
        return f"from {node.module}"
    if isinstance(node, ast.arg):
        return "arg"
    return type(node).__name__


def _is_docstring(node: ast.AST) -> bool:
    """A bare string statement: a docstring or a string used as a comment."""
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _ast_tokens(tree: ast.AST) -> list[Token]:
    names, attrs = _bound(tree)
    out: list[Token] = []
    stack: list[tuple[ast.AST, int]] = [(child, 1) for child in reversed(list(ast.iter_child_nodes(tree)))]
    while stack:  # pre-order without recursion: deeply nested student code cannot overflow the stack
        node, line = stack.pop()
        if isinstance(node, (ast.expr_context, ast.type_ignore)) or _is_docstring(node):
            continue
        line = getattr(node, "lineno", line)
        out.append(Token(_label(node, names, attrs), line))
        stack.extend((child, line) for child in reversed(list(ast.iter_child_nodes(node))))
    return out


def _lexical_tokens(source: str) -> list[Token]:
    """Tokens of code that does not parse: names that are not keywords or builtins become V; no comments."""
    out: list[Token] = []
    previous = ""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in skip:
                continue
            text = tok.string
            if tok.type == tokenize.NAME and previous != "." and not keyword.iskeyword(text) and text not in _BUILTINS:
                text = "V"
            elif tok.type == tokenize.NUMBER:
                text = "num"
            elif tok.type == tokenize.STRING:
                text = "str"
            out.append(Token(text, tok.start[0]))
            previous = tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # keep the tokens read so far
    return out


def tokens(source: str) -> list[Token]:
    """The normalised tokens of one cell's source.

    The source is parsed with ``ast`` and walked in pre-order; each node becomes one token (its
    type, and for leaves a normalised value). Names the cell binds itself (variables, arguments,
    helper functions, attributes set on ``self``) all become ``V`` or ``.A``, so renaming changes
    nothing; names it only reads (``torch``, ``nn``, ``F``, builtins, attributes of libraries) are
    kept, so the API calls still tell solutions apart. Comments, docstrings, blank lines, layout
    and parentheses leave no token. IPython magics are blanked; code that still does not parse is
    tokenised by ``tokenize`` (names that are not keywords or builtins become ``V``).

    Args:
        source: the cell's code (untrusted: never run, only parsed).

    Returns:
        The tokens with the line each comes from.
    """
    source = _without_magics(source)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _lexical_tokens(source)
    return _ast_tokens(tree)


# --- k-grams and winnowing -----------------------------------------------------------------------


def _token_id(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "replace"))


def kgrams(toks: list[Token], k: int = K) -> list[Fingerprint]:
    """Every k-gram of the tokens, hashed, with the lines it spans.

    Args:
        toks: the tokens of one cell.
        k: tokens per k-gram.

    Returns:
        One Fingerprint per position (none when there are fewer than ``k`` tokens); a hash depends only
        on the k token texts (CRC-32 of each, then a tuple hash of ints: the same in every run).
    """
    if len(toks) < k:
        return []
    ids = [_token_id(t.text) for t in toks]
    return [Fingerprint(hash(tuple(ids[i:i + k])), toks[i].line, max(t.line for t in toks[i:i + k]))
            for i in range(len(toks) - k + 1)]


def winnow(grams: list[Fingerprint], w: int = W, skip: frozenset[int] | set[int] = frozenset()) -> list[Fingerprint]:
    """The k-grams winnowing selects: the minimum hash of every window of ``w`` (rightmost on ties).

    Any run of at least K + w - 1 tokens shared by two cells yields a fingerprint they share;
    runs shorter than K never do.

    Args:
        grams: the k-grams in source order.
        w: window size; a cell with fewer k-grams is one window.
        skip: hashes never selected (the code given in the release): a window of only those selects nothing.

    Returns:
        The selected fingerprints in source order, each position once.
    """
    if not grams:
        return []
    size = min(w, len(grams))
    chosen: list[Fingerprint] = []
    last = -1
    for start in range(len(grams) - size + 1):
        best = -1
        for i in range(start, start + size):
            if grams[i].hash in skip:
                continue
            if best < 0 or grams[i].hash <= grams[best].hash:
                best = i
        if best >= 0 and best != last:
            chosen.append(grams[best])
            last = best
    return chosen


def given_hashes(source: str, k: int = K) -> frozenset[int]:
    """Every k-gram hash of code given to all students (a release cell): never counted as shared.

    Args:
        source: the release's cell.
        k: tokens per k-gram.

    Returns:
        The hashes (all of them, not only the winnowed ones).
    """
    return frozenset(g.hash for g in kgrams(tokens(source), k))


def fingerprints(source: str, given: frozenset[int] = frozenset()) -> dict[int, tuple[int, int]]:
    """The winnowed fingerprints of one cell: hash -> (first, last) source line of its first occurrence.

    Args:
        source: the cell's code.
        given: k-gram hashes of the code the release gives (see ``given_hashes``); they are left out.

    Returns:
        hash -> (first, last) line of the k-gram, for display.
    """
    found: dict[int, tuple[int, int]] = {}
    for fp in winnow(kgrams(tokens(source)), skip=given):
        found.setdefault(fp.hash, (fp.first_line, fp.last_line))
    return found
