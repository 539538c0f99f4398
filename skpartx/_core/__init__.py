"""What every stage stands on: data, torch plumbing and shared contracts.

``part_images`` and ``lazy`` (the ``X`` of every step), ``torch_utils`` (devices, batches, how a
model is called, the run parameters the torch estimators share), ``features`` (hooked layer
outputs), ``cache``, ``chunks`` and ``progress`` (long runs), ``part_scores`` (the score tables
stages pass on, and their encodings), ``relations``, ``labels``, ``html``, ``curves`` and
``figures`` (what every stage's figures share).

May import: nothing of skpartx outside ``_core``.
"""
