import pytest
import torch
from timm.layers import CecaModule, EcaModule

from ecalib.layers import (
    ATTENTION_TYPES,
    Cbam,
    CecaLayer,
    ChannelGate,
    EcaLayer,
    SpatialGate,
    SqueezeExcite,
    TripletAttention,
    create_attention,
    eca_kernel_size,
)

# SPEC section 1: C <= 96 -> 3, C = 128..1024 -> 5, C = 2048 -> 7 (C = 128 gives t = 4 -> 5).
ADAPTIVE_TABLE = {16: 3, 24: 3, 32: 3, 64: 3, 96: 3, 128: 5, 160: 5, 256: 5, 320: 5, 512: 5, 1024: 5, 2048: 7}


@pytest.mark.parametrize("channels,k", sorted(ADAPTIVE_TABLE.items()))
def test_adaptive_kernel_table(channels, k):
    assert eca_kernel_size(channels) == k
    assert EcaLayer(channels=channels).kernel_size == k


def test_adaptive_rule_has_no_minimum():
    # timm clamps to 3; the paper's rule does not: C = 4 gives t = int((2 + 1) / 2) = 1 -> k = 1.
    assert eca_kernel_size(4) == 1
    assert eca_kernel_size(8) == 3  # t = int(2.0) = 2 -> 3
    with pytest.raises(ValueError, match="positive"):
        eca_kernel_size(0)


def reference_band(weight: torch.Tensor, c: int) -> torch.Tensor:
    """Independent reference: the C x C band of the k shared weights, cut at the edges (zero padding)."""
    pad = (weight.numel() - 1) // 2
    w = torch.zeros(c, c)
    for i in range(c):
        for j in range(max(0, i - pad), min(c, i + pad + 1)):
            w[i, j] = weight[j - i + pad]
    return w


def band_matrix_eca(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Independent reference: y = sigmoid(W @ gap(x)) with W a C x C band of the k shared weights."""
    y = torch.sigmoid(x.mean(dim=(2, 3)) @ reference_band(weight, x.shape[1]).T)
    return x * y[:, :, None, None]


@pytest.mark.parametrize("k", [1, 3, 5, 7, 9])
def test_eca_equals_band_matrix(k):
    layer = EcaLayer(k_size=k)
    x = torch.randn(2, 32, 5, 6)
    torch.testing.assert_close(layer(x), band_matrix_eca(x, layer.conv.weight.detach().flatten()))
    assert layer.conv.weight.shape == (1, 1, k)
    assert sum(p.numel() for p in layer.parameters()) == k


@pytest.mark.parametrize("k", [3, 5, 7])
def test_eca_equals_timm_eca_module(k):
    ours, theirs = EcaLayer(k_size=k), EcaModule(kernel_size=k)
    theirs.conv.weight.data.copy_(ours.conv.weight.data)
    x = torch.randn(3, 64, 7, 7)
    torch.testing.assert_close(ours(x), theirs(x))
    ceca, timm_ceca = CecaLayer(k_size=k), CecaModule(kernel_size=k)
    timm_ceca.conv.weight.data.copy_(ceca.conv.weight.data)
    torch.testing.assert_close(ceca(x), timm_ceca(x))


def test_ceca_differs_only_at_edge_channels():
    eca, ceca = EcaLayer(k_size=3), CecaLayer(k_size=3)
    ceca.conv.weight.data.copy_(eca.conv.weight.data)
    x = torch.randn(2, 16, 4, 4)
    diff = (eca(x) - ceca(x)).abs().amax(dim=(0, 2, 3))
    assert diff[0] > 1e-4 and diff[-1] > 1e-4
    assert torch.all(diff[1:-1] == 0)


@pytest.mark.parametrize("bad", [0, 2, 4, -3, 3.0])
def test_eca_rejects_bad_kernel(bad):
    with pytest.raises(ValueError, match="odd"):
        EcaLayer(k_size=bad)


def test_eca_needs_k_or_channels():
    with pytest.raises(ValueError, match="k_size"):
        EcaLayer()


def test_factory_names_and_errors():
    assert create_attention("none", 64) is None
    assert isinstance(create_attention("eca", 64), EcaLayer)
    assert isinstance(create_attention("ECA", 64, k_size=5), EcaLayer)
    assert isinstance(create_attention("ceca", 64), CecaLayer)
    assert isinstance(create_attention("se", 64), SqueezeExcite)
    assert isinstance(create_attention("cbam", 64), Cbam)
    assert isinstance(create_attention("triplet", 64), TripletAttention)
    with pytest.raises(ValueError) as err:
        create_attention("gc", 64)
    for name in ATTENTION_TYPES:
        assert name in str(err.value)


def test_se_structure():
    se = SqueezeExcite(64, reduction=16)
    assert sum(p.numel() for p in se.parameters()) == 64 * 4 + 4 + 4 * 64 + 64  # two FC layers with bias
    x = torch.randn(2, 64, 5, 5)
    gate = torch.sigmoid(se.fc2(torch.relu(se.fc1(x.mean(dim=(2, 3))))))
    torch.testing.assert_close(se(x), x * gate[:, :, None, None])


def test_cbam_spatial_kernel_is_configurable():
    assert Cbam(64).spatial.conv.kernel_size == (7, 7)
    assert Cbam(64, spatial_kernel=3).spatial.conv.kernel_size == (3, 3)
    with pytest.raises(ValueError, match="odd"):
        Cbam(64, spatial_kernel=4)


def test_cbam_is_channel_gate_then_spatial_gate():
    cbam = Cbam(32, reduction=4).eval()
    x = torch.randn(2, 32, 6, 6)
    mlp = cbam.channel.mlp
    ch = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))[:, :, None, None]
    y = x * ch
    pooled = torch.cat([y.amax(dim=1, keepdim=True), y.mean(dim=1, keepdim=True)], dim=1)
    sp = torch.sigmoid(cbam.spatial.bn(cbam.spatial.conv(pooled)))
    torch.testing.assert_close(cbam(x), y * sp)


def test_triplet_branches_gate_the_right_planes():
    att = TripletAttention(kernel_size=7).eval()
    assert att.hw.conv.kernel_size == (7, 7)
    x = torch.randn(2, 8, 5, 6)
    # The (H, W) branch pools over channels, so it must equal a spatial gate applied directly.
    hw = att.hw(x)
    # (C, W) branch: pool over H, gate broadcast over H.
    pooled = torch.stack((x.amax(dim=2), x.mean(dim=2)), dim=1)  # N, 2, C, W
    gate = torch.sigmoid(att.cw.bn(att.cw.conv(pooled)))  # N, 1, C, W
    cw = x * gate.permute(0, 2, 1, 3)
    # (H, C) branch: pool over W, the gate convolves the (H, C) plane, broadcast over W.
    pooled = torch.stack((x.amax(dim=3), x.mean(dim=3)), dim=1).transpose(2, 3)  # N, 2, H, C
    gate = torch.sigmoid(att.hc.bn(att.hc.conv(pooled)))  # N, 1, H, C
    hc = x * gate.permute(0, 3, 2, 1)
    torch.testing.assert_close(att(x), (hw + cw + hc) / 3)


@pytest.mark.parametrize("circular", [False, True])
@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_band_matrix_reproduces_the_channel_convolution(k, circular):
    layer = EcaLayer(k_size=k, circular=circular)
    y = torch.randn(4, 1, 16)
    matrix = layer.band_matrix(16)
    torch.testing.assert_close(layer.conv(y).squeeze(1), y.squeeze(1) @ matrix.T)
    if not circular:
        weight = layer.conv.weight.detach().flatten()
        torch.testing.assert_close(matrix, reference_band(weight, 16))
        assert (matrix[0, k // 2 + 1 :] == 0).all() and int((matrix[8] != 0).sum()) == k


def test_gates_are_the_weights_each_module_multiplies_by():
    x = torch.randn(2, 32, 6, 5)
    for module in (EcaLayer(k_size=3), SqueezeExcite(32, 16), ChannelGate(32, 16)):
        gate = module.gate(x)
        assert gate.shape == (2, 32) and ((gate > 0) & (gate < 1)).all()
        torch.testing.assert_close(module(x), x * gate[:, :, None, None])
    spatial = SpatialGate(7).eval()
    torch.testing.assert_close(spatial(x), x * spatial.gate(x))
    assert spatial.gate(x).shape == (2, 1, 6, 5)


def test_capture_attention_records_every_gate_of_a_network():
    from ecalib import create_model
    from ecalib.reports.attention import capture_attention

    torch.manual_seed(0)
    model = create_model("cbam_resnet18", num_classes=10)
    x = torch.randn(1, 3, 64, 64)
    out, records = capture_attention(model, x)
    torch.testing.assert_close(out, model.eval()(x))
    assert [r.kind for r in records] == ["cbam", "cbam-spatial"] * 8
    assert records[0].module == "layer1.0.cbam.channel" and records[-1].weights.shape == (1, 1, 2, 2)
    eca_model = create_model("eca_resnet18", num_classes=10, eca_impl="torch")
    _, eca = capture_attention(eca_model, x)
    assert [r.weights.shape[1] for r in eca] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert {m.impl for m in eca_model.modules() if hasattr(m, "impl")} == {"torch"}  # restored after capture
    assert not any(m._forward_hooks for m in model.modules())
