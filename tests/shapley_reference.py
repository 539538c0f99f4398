"""Shapley values from their definition, the reference the tests compare against."""

from itertools import combinations
from math import factorial


def shapley_from_definition(players, value):
    """``{player: phi}``: each player's weighted marginal contributions over all coalitions of
    the others, ``value(frozenset)`` giving a coalition's value."""
    players = list(players)
    n = len(players)
    phi = {}
    for player in players:
        others = [p for p in players if p != player]
        phi[player] = sum(
            factorial(size) * factorial(n - size - 1) / factorial(n)
            * (value(frozenset(coalition) | {player}) - value(frozenset(coalition)))
            for size in range(n) for coalition in combinations(others, size)
        )
    return phi
