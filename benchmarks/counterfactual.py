"""Counterfactuals of misclassified images: flip rate and parts swapped, Shapley order vs random.

Trains the test suite's classifier (SmallCNN, 12 epochs on 3000 synthetic 40-px images),
fits a PartCounterfactualExplainer on the training images (the correctly classified ones
are the donors) and explains every held-out image the model gets wrong, towards its true
class, in the swap-game Shapley order and in a random order. Also times the part
interaction graph of the held-out images.

    python benchmarks/counterfactual.py
"""

import time

import numpy as np
import torch

from skpartx import PartAttributor, PartCounterfactualExplainer, PartImages
from skpartx.datasets import make_part_shapes
from skpartx.interactions import interaction_graph
from skpartx.models import train_classifier

N_TRAIN, N_TEST = 3000, 400


def main():
    data = make_part_shapes(N_TRAIN + N_TEST, image_size=40, random_state=0)
    torch.manual_seed(0)
    model = train_classifier(data.images[:N_TRAIN], data.target[:N_TRAIN], epochs=12, random_state=0)
    X = PartImages(data.images, data.masks, data.part_names)
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, N_TRAIN + N_TEST)
    start = time.perf_counter()
    explainer = PartCounterfactualExplainer(model, random_state=0).fit(X[train], data.target[train])
    table = explainer.evaluate(X[test], data.target[test])
    seconds = time.perf_counter() - start
    print(f"held-out images {N_TEST}, misclassified {int(table.loc['shapley', 'n_images'])}; fit + both orders {seconds:.1f} s")
    print(table.round(3).to_string())

    attributor = PartAttributor(model, baseline="mean").fit(X[train])
    start = time.perf_counter()
    graph = interaction_graph(attributor, X[test], target_names=data.target_names, random_state=0)
    print(f"interaction graph of {N_TEST} images: {time.perf_counter() - start:.1f} s")
    for row, label in enumerate(graph.class_labels):
        planted = " ∧ ".join(data.rules[graph.classes[row]])
        a, b, value = graph.edges(graph.classes[row])[0]
        top = np.array(graph.part_names)[np.argsort(-graph.importance[row])[:2]]
        print(f"  {label:8s} planted {planted:14s} top parts {', '.join(top):14s} strongest edge {a}-{b} {value:+.3f}")


if __name__ == "__main__":
    main()
