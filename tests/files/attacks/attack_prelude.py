"""What every attack file imports: the suite's constants and verdict(), whose real definitions the builder puts in.

tests/harness.py (``attack_code``) replaces an attack file's ``from attack_prelude import ...``
line with ``ADV = {...}`` (the campaign's constants) and the ``verdict`` below, so that the
cell code needs nothing from the repository. This file lets the attack files be read, linted
and type-checked as the Python they are.
"""

ADV: dict = {}  # marker, ports, folders, payload...: see Env in tests/security/attacks.py


def verdict(**found):
    """Report what the attack saw: a RuntimeError whose message reaches results.json as the cell's error."""
    import json  # imported here: the prelude binds no name in the answer cell but ADV and verdict

    raise RuntimeError("VERDICT " + json.dumps(found, default=str, sort_keys=True) + " ENDVERDICT")
