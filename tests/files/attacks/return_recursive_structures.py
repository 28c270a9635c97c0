"""build_vocab returns a dict that contains itself and a list nested 100,000 deep."""


def build_vocab(text):
    loop = {}
    loop["self"] = loop
    deep = []
    for _ in range(100_000):
        deep = [deep]
    return loop, deep
