"""Helpers for reading json-stat2 datasets in the server tests."""

from __future__ import annotations


def cell(ds: dict, **coords: str) -> object:
    """The value of one cell of a json-stat2 dataset, by dimension codes."""
    idx = 0
    for dim, size in zip(ds["id"], ds["size"], strict=True):
        index = ds["dimension"][dim]["category"]["index"]
        idx = idx * size + index[coords[dim]]
    return ds["value"][idx]


def codes(ds: dict, dim: str) -> list[str]:
    """The codes of a dimension of a json-stat2 dataset, in order."""
    index = ds["dimension"][dim]["category"]["index"]
    return sorted(index, key=index.__getitem__)
