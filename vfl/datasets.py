"""``vfl.datasets``, a documented path: the code lives in :mod:`vfl.tables.datasets`."""

from vfl.tables.datasets import (
    MISSING_CELLS,
    PartyTable,
    load_builtin,
    make_heavy_tail_credit,
    make_rare_event_credit,
    make_toy_hetero,
    read_party_csv,
    write_party_csv,
)

__all__ = [
    "MISSING_CELLS",
    "PartyTable",
    "load_builtin",
    "make_heavy_tail_credit",
    "make_rare_event_credit",
    "make_toy_hetero",
    "read_party_csv",
    "write_party_csv",
]
