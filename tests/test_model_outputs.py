"""Models as they come: outputs with .logits, dicts, tuples, pixel_values= forwards,
Hugging Face classifiers built in process, and input normalisation in front of a model."""

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from skpartx import PartAttributor, PartImages, PartLabelTransfer
from skpartx.datasets import make_part_shapes
from skpartx.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    NormalizedModel,
    SmallCNN,
    forward_images,
    logits_of,
    predict_classes,
    predict_logits,
    train_classifier,
)


@dataclass
class Output:
    """Shaped like a Hugging Face ``ImageClassifierOutput``: logits next to other fields."""

    logits: torch.Tensor
    hidden_states: tuple = ()


class Wrapped(torch.nn.Module):
    """The session's CNN, returning its logits in another container."""

    def __init__(self, model, kind):
        super().__init__()
        self.model, self.kind = model, kind

    def forward(self, x):
        logits = self.model(x)
        if self.kind == "output":
            return Output(logits, (x,))
        if self.kind == "dict":
            return {"loss": None, "logits": logits}
        if self.kind == "ordered_dict":
            return OrderedDict(hidden=x.mean(), logits=logits)
        if self.kind == "tuple":
            return logits, x.mean()
        return [logits]


class KeywordOnly(torch.nn.Module):
    """Takes the images only as ``pixel_values=``, as some Hugging Face forwards do."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *, pixel_values, output_hidden_states=False):
        return Output(self.model(pixel_values))


@pytest.fixture(scope="module")
def few(full_X, test_slice):
    return full_X[np.arange(test_slice.start, test_slice.start + 8)]


def test_logits_of_reads_every_accepted_container_and_refuses_the_rest():
    logits = torch.randn(3, 4)
    for output in (logits, Output(logits), {"logits": logits}, OrderedDict(a=1, logits=logits), (logits, 1), [logits]):
        assert logits_of(output) is logits
    for output in ({"scores": logits}, None, ("text", logits), (), Output(None)):
        with pytest.raises(TypeError, match=r"must return logits \(batch, n_classes\)"):
            logits_of(output)


def test_forward_images_passes_pixel_values_by_keyword_only_when_needed(model):
    x = torch.rand(2, 3, 40, 40)
    expected = model(x)
    torch.testing.assert_close(logits_of(forward_images(KeywordOnly(model), x)), expected)
    torch.testing.assert_close(forward_images(model, x), expected)

    class PositionalPixelValues(torch.nn.Module):  # pixel_values as a positional parameter: passed positionally
        def forward(self, pixel_values=None, labels=None):
            assert pixel_values is not None and labels is None
            return pixel_values.sum(dim=(2, 3))

    torch.testing.assert_close(forward_images(PositionalPixelValues(), x), x.sum(dim=(2, 3)))


@pytest.mark.parametrize("kind", ["output", "dict", "ordered_dict", "tuple", "list", "keyword"])
def test_every_stage_explains_a_wrapped_model_exactly_as_the_plain_one(model, few, kind):
    wrapped = KeywordOnly(model) if kind == "keyword" else Wrapped(model, kind)
    np.testing.assert_array_equal(predict_classes(wrapped, few, device="cpu"), predict_classes(model, few, device="cpu"))
    for method in ("shapley", "integrated_gradients"):
        plain = PartAttributor(model, method=method, baseline="mean", device="cpu").fit(few).transform(few)
        other = PartAttributor(wrapped, method=method, baseline="mean", device="cpu").fit(few).transform(few)
        np.testing.assert_allclose(np.asarray(other), np.asarray(plain), atol=1e-6)
    # Grad-CAM reads the logits through the same rule (the layer keeps its name under "model.").
    plain = PartAttributor(model, method="gradcam", layer="stage4", baseline="mean", device="cpu").fit(few)
    other = PartAttributor(wrapped, method="gradcam", layer="model.stage4", baseline="mean", device="cpu").fit(few)
    np.testing.assert_allclose(np.asarray(other.transform(few)), np.asarray(plain.transform(few)), atol=1e-6)


def test_normalized_model_feeds_the_network_normalised_images():
    seen = {}

    class Recorder(torch.nn.Module):
        def forward(self, pixel_values):
            seen["x"] = pixel_values
            return pixel_values.mean(dim=(2, 3))

    x = torch.rand(2, 3, 8, 8)
    out = NormalizedModel(Recorder())(x)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(seen["x"], (x - mean) / std)
    torch.testing.assert_close(logits_of(out), ((x - mean) / std).mean(dim=(2, 3)))

    class Processor:  # the two fields a Hugging Face image processor carries
        image_mean, image_std, do_normalize = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], True

    NormalizedModel.from_image_processor(Recorder(), Processor())(x)
    torch.testing.assert_close(seen["x"], (x - 0.5) / 0.25)
    Processor.do_normalize = False
    NormalizedModel.from_image_processor(Recorder(), Processor())(x)
    torch.testing.assert_close(seen["x"], x)
    with pytest.raises(ValueError, match="std must be positive"):
        NormalizedModel(Recorder(), mean=[0, 0, 0], std=[1, 0, 1])
    with pytest.raises(ValueError, match="one value per channel each; got 3 and 2"):
        NormalizedModel(Recorder(), mean=[0, 0, 0], std=[1, 1])
    with pytest.raises(ValueError, match="the images have 1 channels but the normalisation 3"):
        NormalizedModel(Recorder())(torch.rand(2, 1, 8, 8))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        NormalizedModel(lambda x: x)


@pytest.mark.trains_in_run
@pytest.mark.cpu_kernels
def test_train_classifier_trains_a_model_of_your_own():
    data = make_part_shapes(600, image_size=32, random_state=0)
    torch.manual_seed(0)
    own = KeywordOnly(SmallCNN(4))
    trained = train_classifier(data.images[:500], data.target[:500], model=own, epochs=10, random_state=0)
    assert trained is own and not trained.training
    accuracy = (predict_classes(trained, data.images[500:], device="cpu") == data.target[500:]).mean()
    assert accuracy > 0.5  # chance is 0.25; a SmallCNN trained so reaches about 0.75


# -- Hugging Face models built from configurations in process (no download) -----------------

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def shapes():
    data = make_part_shapes(600, image_size=32, random_state=1)
    return data, PartImages(data.images, data.masks, data.part_names)


def tiny_resnet():
    config = transformers.ResNetConfig(
        num_labels=4, embedding_size=16, hidden_sizes=[16, 32, 32, 32], depths=[1, 1, 1, 1], downsample_in_first_stage=False
    )
    return transformers.ResNetForImageClassification(config)


def tiny_vit():
    config = transformers.ViTConfig(
        num_labels=4, image_size=32, patch_size=4, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
        intermediate_size=64,
    )
    return transformers.ViTForImageClassification(config)


@pytest.mark.trains_in_run
@pytest.mark.cpu_kernels
@pytest.mark.parametrize("build", [tiny_resnet, tiny_vit], ids=["resnet", "vit"])
def test_hugging_face_classifiers_are_explained_as_they_come(shapes, build):
    data, X = shapes
    torch.manual_seed(0)
    model = build().eval()
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    trained = train_classifier(data.images[:500], data.target[:500], model=model, epochs=2, random_state=0)
    assert trained is model and not model.training  # trained in place through its ImageClassifierOutput
    assert all(not torch.equal(initial[name], p) for name, p in model.named_parameters() if p.requires_grad)
    held_out = X[500:]
    decisions = predict_classes(model, held_out, device="cpu")
    # The logits are the model's own, read from its ImageClassifierOutput.
    with torch.no_grad():
        expected = model(pixel_values=torch.from_numpy(held_out.images[:4])).logits.numpy()
    np.testing.assert_allclose(predict_logits(model, held_out[:4], device="cpu"), expected, atol=1e-5)
    # Exact Shapley values add up to f(all) - f(none) on the model's probabilities.
    attributor = PartAttributor(model, baseline="mean", device="cpu").fit(held_out[:4])
    explanations = attributor.explain(held_out[:4])
    for explanation in explanations:
        assert sum(explanation.scores.values()) == pytest.approx(explanation.full_score - explanation.empty_score, abs=1e-5)
    probability = torch.softmax(torch.from_numpy(expected), dim=1)[np.arange(4), decisions[:4]]
    np.testing.assert_allclose([e.full_score for e in explanations], probability.numpy(), atol=1e-5)
    # The same network serves as the transfer backbone, hooks and all.
    partial = PartImages(X.images[:60], np.where(np.arange(60)[:, None, None] < 12, X.masks[:60], -1), X.part_names)
    transfer = PartLabelTransfer(backbone=model, device="cpu").fit(partial)
    predicted = transfer.predict(partial[12:])
    assert predicted.shape == X.masks[12:60].shape
    assert predicted.min() >= 0 and predicted.max() < len(X.part_names)
