"""The paper's ablation (Sec. 3.2, Table 2; Fig. 4): the attention variants against a float64 matrix
formulation, their parameter counts against the paper's formulas, their models and the studies' recipes."""

import pytest
import torch

import ecalib
from ecalib.layers import (
    ABLATION_TYPES,
    EcaLayer,
    EcaNonShared,
    SeGroupConv,
    SeVar1,
    SeVar2,
    SeVar3,
    SqueezeExcite,
    create_attention,
)
from ecalib.layers.se_variants import paper_parameter_count


def reference_matrix(module, c: int) -> torch.Tensor:
    """Independent reference: the C x C matrix W of sigmoid(W y), built in float64 from the raw parameters."""
    w = torch.zeros(c, c, dtype=torch.float64)
    if isinstance(module, SeVar1):
        return torch.eye(c, dtype=torch.float64)
    if isinstance(module, SeVar2):
        return torch.diag(module.weight.detach().double())
    if isinstance(module, SeVar3):
        return module.fc.weight.detach().double()
    if isinstance(module, SeGroupConv):
        size = c // module.groups
        weight = module.conv.weight.detach().double()[:, :, 0]  # [C, C/G]: row i holds its group's inputs
        for i in range(c):
            group = i // size
            w[i, group * size : (group + 1) * size] = weight[i]
        return w
    if isinstance(module, EcaNonShared):
        k = module.kernel_size
        weight = module.weight.detach().double()
        for i in range(c):
            for j in range(max(0, i - k // 2), min(c, i + k // 2 + 1)):
                w[i, j] = weight[i, j - i + k // 2]
        return w
    raise AssertionError(type(module))


VARIANTS = [
    ("se_var1", {}),
    ("se_var2", {}),
    ("se_var3", {}),
    ("se_gc", {"groups": 4}),
    ("se_gc", {"groups": 32}),
    ("eca_ns", {"k_size": 3}),
    ("eca_ns", {"k_size": 7}),
]


@pytest.mark.parametrize("name,kwargs", VARIANTS)
def test_each_variant_is_sigmoid_of_its_matrix_in_float64(name, kwargs):
    c = 32
    module = create_attention(name, c, **kwargs).double()
    for p in module.parameters():  # weights far from zero, so a wrong index cannot hide
        torch.nn.init.normal_(p, 0.0, 1.0)
    x = torch.randn(3, c, 5, 4, dtype=torch.float64)
    matrix = reference_matrix(module, c)
    gate = torch.sigmoid(x.mean(dim=(2, 3)) @ matrix.T)
    torch.testing.assert_close(module(x), x * gate[:, :, None, None], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(module.weight_matrix(c), matrix, rtol=0, atol=0)


@pytest.mark.parametrize("c", [64, 256, 2048])
def test_parameter_counts_are_the_papers_formulas(c):
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    r, g = 16, 16
    for k in (3, 5, 9):
        assert count(EcaNonShared(c, k)) == paper_parameter_count("eca_ns", c, k=k) == k * c
        assert count(EcaLayer(k_size=k)) == paper_parameter_count("eca", c, k=k) == k
    assert count(SeVar1(c)) == paper_parameter_count("se_var1", c) == 0
    assert count(SeVar2(c)) == paper_parameter_count("se_var2", c) == c
    assert count(SeVar3(c)) == paper_parameter_count("se_var3", c) == c * c
    assert count(SeGroupConv(c, g)) == paper_parameter_count("se_gc", c, groups=g) == g * (c // g) ** 2
    se = SqueezeExcite(c, r)
    weights = se.fc1.weight.numel() + se.fc2.weight.numel()
    assert weights == paper_parameter_count("se", c, reduction=r) == 2 * c * c // r  # the paper leaves out biases
    assert count(se) == weights + c // r + c


def test_special_cases_meet_their_neighbours():
    c, x = 16, torch.randn(2, 16, 3, 3)
    eca, ns = EcaLayer(k_size=5, impl="reference"), EcaNonShared(c, 5)
    ns.weight.data.copy_(eca.conv.weight.detach().view(1, 5).expand(c, 5))  # shared rows: ECA-NS is ECA
    torch.testing.assert_close(ns(x), eca(x))
    var2, gc = SeVar2(c), SeGroupConv(c, groups=c)  # one channel per group: a diagonal
    gc.conv.weight.data.copy_(var2.weight.detach().view(c, 1, 1))
    torch.testing.assert_close(gc(x), var2(x))
    var3, gc1 = SeVar3(c), SeGroupConv(c, groups=1)  # one group: a full layer
    gc1.conv.weight.data.copy_(var3.fc.weight.detach()[:, :, None])
    torch.testing.assert_close(gc1(x), var3(x))
    torch.testing.assert_close(SeVar1(c)(x), x * torch.sigmoid(x.mean(dim=(2, 3)))[:, :, None, None])


def test_bad_variant_settings_are_refused():
    with pytest.raises(ValueError, match="divisor"):
        SeGroupConv(30, groups=4)
    with pytest.raises(ValueError, match="odd"):
        EcaNonShared(16, k_size=4)
    with pytest.raises(ValueError, match="Table 2"):
        paper_parameter_count("cbam", 64)


@pytest.mark.parametrize("backbone", ["resnet50", "resnet18_cifar"])
def test_every_variant_has_a_model_that_adds_the_papers_count_per_block(backbone):
    base = ecalib.create_model(backbone)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    stage_of = [i for i, stage in enumerate(base.stages()) for _ in stage]
    widths = [(b.bn3 if hasattr(b, "bn3") else b.bn2).num_features for stage in base.stages() for b in stage]
    for attn in ABLATION_TYPES:
        model = ecalib.create_model(f"{attn}_{backbone}")
        ks = [model.k_per_stage[i] for i in stage_of] if attn == "eca_ns" else [0] * len(widths)
        expected = sum(paper_parameter_count(attn, c, groups=16, k=k) for c, k in zip(widths, ks))
        assert count(model) - count(base) == expected, attn
        assert ecalib.model_info(f"{attn}_{backbone}").attention == attn


def test_every_study_resolves_its_runs_and_is_one_command():
    from helpers import run_cli

    from ecalib.recipes.studies import FIG4_KERNELS, STUDIES, TABLE2_CIFAR, study

    for s in STUDIES.values():
        assert len(s.runs("smoke")) == len(s.models) * len(s.k_sizes)  # smoke: one seed
    table2 = study("table2-cifar10").runs("full")
    assert len(table2) == len(TABLE2_CIFAR) * 5 and {r.config.model.name for r in table2} == set(TABLE2_CIFAR)
    assert {r.config.model.arch for r in table2} >= {f"{a}_resnet18_cifar" for a in ABLATION_TYPES}
    fig4 = study("fig4-imagenet").runs("full", data_dir="/data/imagenet")
    assert [r.config.model.k_size for r in fig4] == list(FIG4_KERNELS)
    assert {r.train_config().model for r in fig4} == {"eca_resnet50_adaptive"}
    assert len({r.run_id for r in table2 + fig4}) == len(table2) + len(fig4)  # every run its own folder
    listed = run_cli("study", "fig4-cifar10", "--dry-run", "--seeds", "0", "1")
    assert listed.returncode == 0 and len(listed.stdout.split()) == 10, listed.stderr
    refused = run_cli("study", "table2-cifar10", "--model", "se")
    assert refused.returncode == 2 and "sets its own models" in refused.stderr
    assert study("fig4-cifar10").command() == "ecalib study fig4-cifar10"
    with pytest.raises(ValueError, match="table2-imagenet"):
        study("table3")
