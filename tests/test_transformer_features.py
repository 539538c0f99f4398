"""Dense features of transformer backbones: automatic blocks, token grids, transfer with them.

Every model here is built in process (hand-written module trees, or Hugging Face models
from small configurations): nothing is downloaded.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from skpartx import PartImages, PartLabelTransfer
from skpartx._core.features import _as_grid, _capture, auto_layers, feature_blocks, gradcam_maps, token_grid
from skpartx.datasets import make_part_shapes

CPU = torch.device("cpu")
HEIGHT, WIDTH, PATCH = 48, 64, 8  # a non-square image: a 6 x 8 patch grid
GRID = (HEIGHT // PATCH, WIDTH // PATCH)
N_REGISTERS = 4


@pytest.fixture(autouse=True, scope="module")
def _single_thread(one_torch_thread):
    """Tiny tensors throughout: one thread is fastest."""


# -- hand-written module trees shaped like timm's ViT and torchvision's ResNet ---------------


class Block(nn.Module):
    """A residual token block: global token mixing (standing in for attention) and an MLP.

    Its MLP is a numbered ``Sequential`` whose outputs are token sequences too, so the
    automatic choice must tell a block's own numbered sub-layers from the blocks.
    """

    def __init__(self, dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.mix = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.mix(self.norm1(x)).mean(dim=1, keepdim=True)
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, h*w, D), row by row


class TimmShapedViT(nn.Module):
    """timm's layout: ``patch_embed.proj``, a class token and register tokens in front of
    the patch tokens, ``blocks`` as a ``Sequential``, ``norm`` and ``head``."""

    def __init__(self, depth=8, dim=16, image_size=(HEIGHT, WIDTH), patch=PATCH, n_registers=N_REGISTERS, n_classes=4):
        super().__init__()
        self.patch_embed = PatchEmbed(dim, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.reg_token = nn.Parameter(torch.randn(1, n_registers, dim) * 0.02)
        n_patches = (image_size[0] // patch) * (image_size[1] // patch)
        self.pos_embed = nn.Parameter(torch.randn(1, n_patches, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x):
        tokens = self.patch_embed(x) + self.pos_embed
        extra = torch.cat([self.cls_token, self.reg_token], dim=1).expand(len(x), -1, -1)
        tokens = self.blocks(torch.cat([extra, tokens], dim=1))
        return self.head(self.norm(tokens)[:, 0])


class BasicBlock(nn.Module):
    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1)
        self.downsample = nn.Conv2d(inputs, outputs, 1, stride) if stride != 1 or inputs != outputs else nn.Identity()

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x))) + self.downsample(x))


class TorchvisionShapedResNet(nn.Module):
    """torchvision's layout: ``conv1, bn1, relu, maxpool``, ``layer1..layer4`` of two
    blocks each (numbered ``Sequential`` children), ``avgpool``, ``fc``."""

    def __init__(self, width=4, n_classes=4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [width, 2 * width, 4 * width, 8 * width]
        inputs = width
        for k, (outputs, stride) in enumerate(zip(widths, [1, 2, 2, 2]), start=1):
            setattr(self, f"layer{k}", nn.Sequential(BasicBlock(inputs, outputs, stride), BasicBlock(outputs, outputs, 1)))
            inputs = outputs
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inputs, n_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def images(n=2, height=HEIGHT, width=WIDTH, seed=0):
    return np.random.RandomState(seed).rand(n, 3, height, width).astype(np.float32)


# -- the patch grid of a token sequence ------------------------------------------------------


@pytest.mark.parametrize(
    "n_tokens, image_size, expected",
    [
        (1 + 48, (48, 64), ((6, 8), 1)),  # class token, 8 px patches
        (1 + 4 + 48, (48, 64), ((6, 8), 5)),  # class token and 4 registers
        (1 + 4 + 48, (64, 48), ((8, 6), 5)),  # portrait: rows follow the height
        (48, (48, 64), ((6, 8), 0)),  # patch tokens only
        (1 + 196, (224, 224), ((14, 14), 1)),  # ViT-B/16
        (2 + 196, (224, 224), ((14, 14), 2)),  # DeiT: class and distillation tokens
        (1 + 4 + 256, (224, 224), ((16, 16), 5)),  # DINOv2 with registers, 14 px patches
        (1 + 14 * 20, (224, 320), ((14, 20), 1)),
        (1 + 4 * 5, (50, 70), ((4, 5), 1)),  # 12 px patches, edges cropped by the stride
        (150, (48, 64), (None, None)),  # 132-150 cells: no grid of 48 x 64 has that many
        (1 + 16, None, ((4, 4), 1)),  # unknown image size: square
    ],
)
def test_token_grid_follows_the_image_shape(n_tokens, image_size, expected):
    assert token_grid(n_tokens, image_size) == expected


def test_tokens_land_on_their_grid_positions():
    # Token k carries its own index in every channel; after dropping the 5 leading tokens,
    # the patch at row i, column j of the 6 x 8 grid is token 5 + 8 i + j.
    tokens = torch.arange(53, dtype=torch.float32)[None, :, None].expand(2, 53, 3)
    grid = _as_grid(tokens, "blocks.7", (HEIGHT, WIDTH))
    assert grid.shape == (2, 3, 6, 8)
    rows, cols = np.meshgrid(np.arange(6), np.arange(8), indexing="ij")
    for b in range(2):
        for c in range(3):
            np.testing.assert_array_equal(grid[b, c].numpy(), 5 + 8 * rows + cols)


def test_hooked_block_output_is_laid_out_like_the_image():
    # With blocks that pass tokens through and a patch embedding that averages each patch,
    # the grid read from a block is the image average-pooled over its 8 x 8 patches.
    model = TimmShapedViT(depth=2).eval()
    with torch.no_grad():
        model.pos_embed.zero_()
        model.patch_embed.proj.weight.zero_()
        model.patch_embed.proj.bias.zero_()
        for c in range(3):
            model.patch_embed.proj.weight[c, c] = 1.0 / PATCH**2
        for block in model.blocks:
            for layer in (block.mix, block.mlp[2]):
                layer.weight.zero_()
                layer.bias.zero_()
    x = torch.from_numpy(images())
    with torch.inference_mode():
        grid = _as_grid(_capture(model, ["blocks.1"], x)["blocks.1"], "blocks.1", (HEIGHT, WIDTH))
    np.testing.assert_allclose(grid[:, :3].numpy(), F.avg_pool2d(x, PATCH).numpy(), atol=1e-6)
    np.testing.assert_array_equal(grid[:, 3:].numpy(), 0.0)


def test_features_of_a_hand_named_block_keep_token_order():
    class IndexTokens(nn.Module):
        """Tokens (1 class + 4 registers + patches) whose channels are (k, 1) for token k."""

        def __init__(self):
            super().__init__()
            self.blocks = nn.Sequential(nn.Identity(), nn.Identity())

        def forward(self, x):
            h, w = x.shape[2] // PATCH, x.shape[3] // PATCH
            k = torch.arange(5 + h * w, dtype=torch.float32)
            tokens = torch.stack([k, torch.ones_like(k)], dim=1).expand(len(x), -1, -1)
            return self.blocks(tokens)

    for height, width in [(HEIGHT, WIDTH), (WIDTH, HEIGHT)]:
        with torch.inference_mode():
            (block,) = feature_blocks(IndexTokens(), ["blocks.1"], torch.from_numpy(images(1, height, width)))
        h, w = height // PATCH, width // PATCH
        assert block.shape == (1, 2, h, w)
        index = (block[0, 0] / block[0, 1]).numpy()  # the L2 normalisation keeps the ratio
        np.testing.assert_allclose(index, 5 + np.arange(h * w).reshape(h, w), rtol=1e-5)


def test_tokens_without_a_grid_fail_naming_the_layer():
    class OddTokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.mixer = nn.Identity()

        def forward(self, x):
            return self.mixer(x.flatten(2)[:, :, :150].transpose(1, 2))  # 150 tokens: no grid of 48 x 64

    with pytest.raises(ValueError, match=r"layer 'mixer' returned 150 tokens, which form no patch grid of 48x64"):
        _as_grid(torch.zeros(1, 150, 4), "mixer", (HEIGHT, WIDTH))
    X = PartImages(images(4), np.zeros((4, HEIGHT, WIDTH), dtype=int), ["background"])
    with pytest.raises(ValueError, match="layer 'mixer' returned 150 tokens"):
        PartLabelTransfer(backbone=OddTokens(), layers="mixer").fit(X)


# -- the automatic choice --------------------------------------------------------------------


@pytest.mark.parametrize(
    "depth, expected",
    [(8, [1, 3, 5, 7]), (12, [2, 5, 8, 11]), (4, [0, 1, 2, 3]), (6, [1, 2, 4, 5]), (2, [0, 1])],
)
def test_automatic_blocks_sit_at_quarter_depths(depth, expected):
    # Blocks ceil(n/4), ceil(n/2), ceil(3n/4) and n (1-based): 3, 6, 9 and 12 of twelve;
    # never the patch embedding.
    model = TimmShapedViT(depth=depth).eval()
    assert auto_layers(model, images(), CPU) == [f"blocks.{i}" for i in expected]


def test_cnn_keeps_the_deepest_module_per_resolution():
    # 128 px: conv1 64, layer1 32, layer2 16, layer3 8, layer4 4 pixels; the four smallest
    # resolutions of at least 4 x 4 are the stages' outputs.
    assert auto_layers(TorchvisionShapedResNet().eval(), images(2, 128, 128), CPU) == [
        "layer1",
        "layer2",
        "layer3",
        "layer4",
    ]
    # At 64 px layer4 is 2 x 2, too coarse; conv1's resolution takes its place (its last module is relu).
    assert auto_layers(TorchvisionShapedResNet().eval(), images(2, 64, 64), CPU) == ["relu", "layer1", "layer2", "layer3"]


def shapes_set(n=48, seed=0):
    """``make_part_shapes`` images cropped to 48 x 64; the first 16 labelled."""
    data = make_part_shapes(n, image_size=WIDTH, random_state=seed)
    top = (WIDTH - HEIGHT) // 2
    crop = slice(top, top + HEIGHT)
    full = PartImages(data.images[:, :, crop], data.masks[:, crop], data.part_names)
    masks = full.masks.copy()
    masks[16:] = -1
    return full, PartImages(full.images, masks, full.part_names)


def test_transfer_with_a_hand_written_vit_on_non_square_images():
    full, partial = shapes_set()
    torch.manual_seed(0)
    model = TimmShapedViT(depth=4).eval()
    transfer = PartLabelTransfer(backbone=model, random_state=0, device="cpu").fit(partial)
    assert transfer.layers_ == ["blocks.0", "blocks.1", "blocks.2", "blocks.3"]
    predicted = transfer.predict(full[16:])
    assert predicted.shape == (32, HEIGHT, WIDTH)
    assert 0 <= predicted.min() and predicted.max() < len(full.part_names)
    # The probe learnt from the labelled images reproduces their masks.
    assert transfer.score(full[:16]) > 0.5
    # A hand-named block works on the same non-square images.
    named = PartLabelTransfer(backbone=model, layers="blocks.3", random_state=0, device="cpu").fit(partial)
    assert named.predict(full[16:20]).shape == (4, HEIGHT, WIDTH)


# -- Hugging Face models built from configurations (no download) -----------------------------

transformers = pytest.importorskip("transformers")

SMALL = dict(hidden_size=16, num_hidden_layers=8, num_attention_heads=2, intermediate_size=32)


def block_names(model, n_blocks):
    """Names of the encoder's blocks: the ``ModuleList`` of ``n_blocks`` layers."""
    (prefix,) = [name for name, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) == n_blocks]
    return [f"{prefix}.{i}" for i in range(n_blocks)]


def vit_classifier():
    config = transformers.ViTConfig(image_size=(HEIGHT, WIDTH), patch_size=PATCH, num_labels=4, **SMALL)
    return transformers.ViTForImageClassification(config), 1


def vit_model():
    config = transformers.ViTConfig(image_size=(HEIGHT, WIDTH), patch_size=PATCH, **SMALL)
    return transformers.ViTModel(config, add_pooling_layer=False), 1


def deit_with_teacher():
    config = transformers.DeiTConfig(image_size=(HEIGHT, WIDTH), patch_size=PATCH, num_labels=4, **SMALL)
    return transformers.DeiTForImageClassificationWithTeacher(config), 2  # class and distillation tokens


def dinov2():
    return transformers.Dinov2Model(transformers.Dinov2Config(image_size=WIDTH, patch_size=PATCH, **SMALL)), 1


def dinov2_registers():
    if not hasattr(transformers, "Dinov2WithRegistersModel"):
        pytest.skip("this transformers version has no Dinov2WithRegistersModel")
    config = transformers.Dinov2WithRegistersConfig(
        image_size=WIDTH, patch_size=PATCH, num_register_tokens=N_REGISTERS, **SMALL
    )
    return transformers.Dinov2WithRegistersModel(config), 1 + N_REGISTERS


@pytest.mark.parametrize("build", [vit_classifier, vit_model, deit_with_teacher, dinov2, dinov2_registers])
def test_hugging_face_transformers_give_their_blocks_on_the_patch_grid(build):
    torch.manual_seed(0)
    model, n_extra = build()
    model.eval()
    x = images()
    layers = auto_layers(model, x, CPU)
    blocks = block_names(model, SMALL["num_hidden_layers"])
    assert layers == [blocks[i] for i in (1, 3, 5, 7)]  # blocks 2, 4, 6 and 8 of eight
    with torch.inference_mode():
        features = feature_blocks(model, layers, torch.from_numpy(x))
        hidden = model(pixel_values=torch.from_numpy(x), output_hidden_states=True).hidden_states
    for layer, block in zip(layers, features):
        # The model's own hidden states after that block, its extra tokens dropped, row by row.
        states = hidden[blocks.index(layer) + 1]
        assert states.shape[1] == n_extra + GRID[0] * GRID[1]
        expected = states[:, n_extra:].reshape(2, *GRID, -1).permute(0, 3, 1, 2)
        np.testing.assert_allclose(block.numpy(), F.normalize(expected, dim=1).numpy(), atol=1e-5)


def test_hugging_face_resnet_keeps_the_cnn_rule():
    config = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1], layer_type="basic", num_labels=4
    )
    model = transformers.ResNetForImageClassification(config).eval()
    # 64 px: the stem's convolution at 32, stages at 16, 8, 4 and 2 pixels.
    assert auto_layers(model, images(2, 64, 64), CPU) == [
        "resnet.embedder.embedder",
        "resnet.encoder.stages.0",
        "resnet.encoder.stages.1",
        "resnet.encoder.stages.2",
    ]


def test_gradcam_on_vit_tokens_matches_a_manual_computation():
    torch.manual_seed(0)
    model, _ = vit_classifier()
    model.eval()
    x = torch.from_numpy(images())
    cam = gradcam_maps(model, "vit.layers.5" if hasattr(model.vit, "layers") else "vit.encoder.layer.5", x)
    assert cam.shape == (2, *GRID)
    outputs = model(pixel_values=x, output_hidden_states=True)
    states = outputs.hidden_states[6]
    target = outputs.logits.argmax(dim=1)
    (grad,) = torch.autograd.grad(outputs.logits.gather(1, target[:, None]).sum(), states)
    activation = states[:, 1:].reshape(2, *GRID, -1).permute(0, 3, 1, 2)
    grad = grad[:, 1:].reshape(2, *GRID, -1).permute(0, 3, 1, 2)
    expected = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * activation).sum(dim=1)).detach()
    expected = torch.where(expected.flatten(1).sum(1)[:, None, None] > 0, expected, torch.ones_like(expected))
    expected = expected / expected.flatten(1).sum(dim=1)[:, None, None]
    np.testing.assert_allclose(cam.numpy(), expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("method, retrieval", [("probe", "mean"), ("knn", "gradcam")])
def test_transfer_with_a_hugging_face_vit_classifier(method, retrieval):
    full, partial = shapes_set()
    torch.manual_seed(0)
    model, _ = vit_classifier()
    transfer = PartLabelTransfer(backbone=model.eval(), method=method, retrieval=retrieval, random_state=0, device="cpu")
    transfer.fit(partial)
    assert transfer.layers_ == [block_names(model, 8)[i] for i in (1, 3, 5, 7)]
    predicted = transfer.predict(full[16:])
    assert predicted.shape == (32, HEIGHT, WIDTH)
    assert 0 <= predicted.min() and predicted.max() < len(full.part_names)
    assert transfer.score(full[:16]) > 0.5
