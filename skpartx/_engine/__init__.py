"""The coalition engine and the arithmetic of games on part coalitions.

``coalitions`` (:class:`~skpartx._engine.coalitions.CoalitionEngine`: composites of an image
with some parts replaced by a baseline, batched through the model and memoised), ``games``
(pure game theory on value tables: Shapley values, interaction indices), ``approximators``
(Shapley values of large games from a budget of evaluations: which coalitions to ask for,
and the estimate from their values) and ``shapley`` (exact and estimated Shapley values of
an engine). Attribution, interactions and
counterfactuals are equals over this engine. ``truth`` runs it on scenes drawn again without
parts (interventional truth, for worlds of part-composed objects).

May import: ``_core``.
"""
