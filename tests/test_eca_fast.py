"""The fast ECA implementations against the reference (the official module's operations).

``torch`` runs everywhere. ``triton`` runs on a GPU when there is one; without one, the
subprocess test re-runs this module's Triton cases in Triton's interpreter on the CPU.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ecalib import create_model
from ecalib.layers import ECA_IMPLS, EcaLayer, set_eca_impl
from ecalib.layers.eca import resolve_eca_impl

ON_GPU = torch.cuda.is_available()
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
DEVICE = torch.device("cuda" if ON_GPU else "cpu")


def triton_case(impl: str):
    """Skip Triton cases unless their kernels can run (GPU, or the interpreter subprocess)."""
    if impl == "triton" and not (ON_GPU or INTERPRETED):
        pytest.skip("no GPU: the Triton kernels are checked by test_triton_kernels_in_interpreter")


def _inputs(dtype, channels_last, channels=40, seed=0):
    """x small and |residual| >= 1, so ``x * s + r`` never sits at ReLU's kink (no rounding ties)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, channels, 5, 7, generator=g) - 0.5
    r = torch.randn(3, channels, 5, 7, generator=g)
    r = r.sign() * (r.abs() + 1.0)
    dy = torch.randn(3, channels, 5, 7, generator=g)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return [t.to(dtype).contiguous(memory_format=fmt).to(DEVICE) for t in (x, r, dy)]


def _run(impl, x, r, dy, k, circular, residual, amp_dtype=None):
    layer = EcaLayer(k_size=k, circular=circular, impl=impl).to(DEVICE)
    with torch.no_grad():
        layer.conv.weight.copy_(torch.linspace(-1.0, 1.5, k).view(1, 1, k))
    x = x.detach().clone().requires_grad_(True)
    r = r.detach().clone().requires_grad_(True)
    with torch.autocast(DEVICE.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
        y = layer.forward_residual(x, r) if residual else layer(x)
    y.backward(dy.to(y.dtype))
    grads = [x.grad, layer.conv.weight.grad] + ([r.grad] if residual else [])
    return [t.float() for t in [y, *grads]]


def _relative_error(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


@pytest.mark.parametrize("impl", ["torch", "triton"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("circular", [False, True], ids=["zeros", "circular"])
@pytest.mark.parametrize("residual", [True, False], ids=["add_relu", "scale_only"])
@pytest.mark.parametrize("k", [3, 7])
def test_fp32_forward_and_gradients_match_reference(impl, channels_last, circular, residual, k):
    triton_case(impl)
    x, r, dy = _inputs(torch.float32, channels_last)
    expected = _run("reference", x, r, dy, k, circular, residual)
    got = _run(impl, x, r, dy, k, circular, residual)
    for name, a, b in zip(["output", "grad x", "grad weight", "grad residual"], got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=lambda m, name=name: f"{impl} {name}: {m}")


@pytest.mark.parametrize("impl", ["reference", "torch", "triton"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_bf16_stays_within_rounding_of_the_fp32_reference(impl, channels_last):
    """Every implementation in bf16 autocast lands within bf16 rounding of the fp32 oracle."""
    triton_case(impl)
    x, r, dy = _inputs(torch.bfloat16, channels_last, channels=64)
    oracle = _run("reference", x.float(), r.float(), dy.float(), 5, False, True)
    got = _run(impl, x, r, dy, 5, False, True, amp_dtype=torch.bfloat16)
    for name, a, b in zip(["output", "grad x", "grad weight", "grad residual"], got, oracle):
        assert _relative_error(a, b) < 2e-2, f"{impl} {name}: relative error {_relative_error(a, b):.3g}"


@pytest.mark.parametrize("channels", [1, 3, 200, 300])
def test_triton_gate_windows_cover_every_channel(channels):
    """Channel counts around the kernel's window sizes (one program, several, the larger window)."""
    triton_case("triton")
    x, r, dy = _inputs(torch.float32, False, channels=channels)
    for circular in (False, True):
        k = 1 if channels == 1 else 3
        expected = _run("reference", x, r, dy, k, circular, True)
        got = _run("triton", x, r, dy, k, circular, True)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(ON_GPU or INTERPRETED, reason="the Triton cases run directly on a GPU / are this subprocess")
def test_triton_kernels_in_interpreter():
    """No GPU here: run this module's Triton cases on the CPU through Triton's interpreter."""
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    command = [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*command, "-k", "triton and not in_interpreter and not hopper"],
        cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, summary


def test_auto_picks_torch_on_cpu_and_triton_refuses_cpu_tensors_outside_the_interpreter():
    x = torch.randn(2, 8, 4, 4)
    assert resolve_eca_impl("auto", x) == "torch"
    assert resolve_eca_impl("reference", x) == "reference"
    if not INTERPRETED:
        pytest.importorskip("triton")
        with pytest.raises(RuntimeError, match="need CUDA tensors"):
            EcaLayer(k_size=3, impl="triton")(x)


def test_unknown_implementation_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="reference, torch, triton"):
        EcaLayer(k_size=3, impl="cuda")
    with pytest.raises(ValueError, match="unknown ECA implementation"):
        create_model("eca_resnet18", eca_impl="fast")
    assert EcaLayer(k_size=3).impl == "auto" and "auto" in ECA_IMPLS  # the documented default


@pytest.mark.parametrize("name", ["eca_resnet18", "eca_resnet50"])
def test_whole_network_is_the_same_function_with_every_implementation(name):
    """ECA-ResNet-18 and -50 (CIFAR stem, 16 px, training mode): logits and every parameter gradient.

    In float64, so that the comparison is not drowned by fp32 rounding that batch norm over a
    4-image batch amplifies (in fp32 the two differ by up to ~1e-2 in the stem's gradient).
    """
    results = {}
    for impl in ("reference", "auto"):
        torch.manual_seed(0)
        model = create_model(name, num_classes=10, stem="cifar", eca_impl=impl).double()
        x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        logits = model(x)
        logits.logsumexp(1).sum().backward()
        results[impl] = (logits.detach(), {n: p.grad for n, p in model.named_parameters()}, model.state_dict().keys())
    (ref_logits, ref_grads, ref_keys), (logits, grads, keys) = results["reference"], results["auto"]
    assert list(keys) == list(ref_keys)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-10, atol=1e-12)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], rtol=1e-9, atol=1e-12, msg=lambda m, n=name: f"{n}: {m}")


def test_set_eca_impl_reaches_every_layer():
    model = create_model("eca_resnet18")
    assert set_eca_impl(model, "reference") == 8
    assert {m.impl for m in model.modules() if isinstance(m, EcaLayer)} == {"reference"}


def test_fused_torch_formulation_compiles_without_graph_breaks():
    """``fullgraph=True`` fails on any graph break: the formulation is what inductor traces whole."""
    layer = EcaLayer(k_size=5, impl="auto")
    reference = EcaLayer(k_size=5, impl="reference")
    reference.load_state_dict(layer.state_dict())
    x, r = torch.randn(2, 16, 6, 6), torch.randn(2, 16, 6, 6)
    compiled = torch.compile(layer.forward_residual, fullgraph=True)
    torch.testing.assert_close(compiled(x, r), reference.forward_residual(x, r))


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_triton_kernels_compile_for_hopper_without_spilling(dtype):
    """Ahead-of-time compilation for sm_90 (H100/H200) with Triton's own ptxas: no GPU needed.

    Catches what the interpreter does not (typing, lowering), and guards the resources that
    decide occupancy: no register spills, at most 128 registers per thread.
    """
    pytest.importorskip("triton")
    from ecalib.layers.eca_triton import compile_for_gpu

    report = compile_for_gpu(90, dtype)
    assert {r["kernel"] for r in report} == {"gate_kernel", "scale_kernel", "reduce_kernel", "dx_kernel"}
    for r in report:
        assert r["spill_bytes"] == 0 and 0 < r["registers"] <= 128, r


@pytest.mark.parametrize("impl", ["torch", "triton"])
def test_feature_extraction_runs_the_chosen_implementation(impl, monkeypatch):
    """``features_only`` runs the model's modules (no FX graph), so every implementation is reachable."""
    triton_case(impl)
    import ecalib.layers.eca as eca

    seen = []
    resolve = eca.resolve_eca_impl
    monkeypatch.setattr(eca, "resolve_eca_impl", lambda i, x: seen.append((resolve(i, x), type(x))) or resolve(i, x))
    torch.manual_seed(0)
    feats = create_model("eca_resnet18", features_only=True, eca_impl=impl).to(DEVICE).eval()
    oracle = create_model("eca_resnet18", features_only=True, eca_impl="reference").to(DEVICE).eval()
    oracle.load_state_dict(feats.state_dict())
    x = torch.randn(2, 3, 64, 64, device=DEVICE)
    with torch.no_grad():
        outs, expected = feats(x), oracle(x)
    assert {s for s in seen if s[0] != "reference"} == {(impl, torch.Tensor)}  # real tensors, never FX proxies
    for out, ref in zip(outs, expected):
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
