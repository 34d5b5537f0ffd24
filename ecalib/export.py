"""Export a model: ONNX (checked in onnxruntime) or timm's Hugging Face Hub folder (``config.json`` + safetensors)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ecalib.errors import UsageError

EXPORT_FORMATS = ("onnx", "timm")
OPSETS = range(9, 21)  # torch.onnx's TorchScript exporter: ONNX_BASE_OPSET to its maximum (20)


def check_export_output(output: str | os.PathLike, format: str, source: str | os.PathLike) -> Path:
    """Where an export goes, checked before anything is loaded: never the source, never ``""``; a timm
    folder must be new or empty (see :func:`ecalib.paths.check_output`)."""
    from ecalib.paths import check_output

    inputs = [source] if Path(source).exists() else []
    return check_output(output, "-o/--output", inputs=inputs, folder=format == "timm")


@dataclass
class OnnxCheck:
    """Largest ``|onnxruntime - PyTorch|`` over the logits, per batch size run."""

    max_abs_diff: dict[int, float]

    def __str__(self) -> str:
        return ", ".join(f"batch {b}: max |onnxruntime - PyTorch| = {d:.3g}" for b, d in self.max_abs_diff.items())


def _example(model: nn.Module, batch: int) -> torch.Tensor:
    c, h, w = model.pretrained_cfg.get("input_size", (3, 224, 224))
    return torch.randn(batch, c, h, w, generator=torch.Generator().manual_seed(batch))


def export_onnx(model: nn.Module, path: str | os.PathLike, opset: int = 17, check_batches=(1, 3)) -> OnnxCheck:
    """``torch.onnx.export`` (TorchScript exporter, no onnxscript needed) with a dynamic batch axis, then run
    the file in onnxruntime on ``check_batches`` and compare with PyTorch."""
    import onnxruntime as ort

    from ecalib.atomic import atomic_path
    from ecalib.layers import set_eca_impl

    if opset not in OPSETS:
        raise UsageError(f"opset {opset} is not allowed; the exporter writes {OPSETS.start} to {OPSETS.stop - 1}")
    model = model.eval()
    set_eca_impl(model, "torch")  # the fused PyTorch formulation: plain ONNX ops (no Triton kernel)
    with atomic_path(path, size_hint=sum(p.numel() * p.element_size() for p in model.parameters())) as tmp:
        with torch.no_grad():
            torch.onnx.export(
                model,
                (_example(model, 2),),
                str(tmp),
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        diffs = {}
        for batch in check_batches:  # checked before the file takes its name: a failed check leaves nothing
            x = _example(model, batch)
            with torch.no_grad():
                ref = model(x)
            (out,) = session.run(None, {"input": x.numpy()})
            if out.shape != tuple(ref.shape):
                raise RuntimeError(f"onnxruntime returned {out.shape} for batch {batch}, PyTorch {tuple(ref.shape)}")
            diffs[batch] = float((torch.from_numpy(out) - ref).abs().max())
    return OnnxCheck(diffs)


def export_timm(model: nn.Module, folder: str | os.PathLike) -> Path:
    """timm's Hub layout (``timm.models.save_for_hf``: ``config.json`` + ``model.safetensors``), which
    ``timm.create_model('local-dir:FOLDER', pretrained=True)`` loads once ecalib is imported."""
    from timm.models._hub import save_for_hf

    from ecalib.atomic import atomic_folder

    model_args = {}
    k = getattr(model, "k_per_stage", None)
    if hasattr(model, "stages") and k is not None:
        model_args["k_size"] = list(k)  # the kernels need not be the variant's
    with atomic_folder(folder) as tmp:  # written beside it and renamed: never half a folder, never a merge
        save_for_hf(model, str(tmp), model_args=model_args, safe_serialization=True)
    return Path(folder)


def load_for_export(source: str, allow_pickle: bool = False) -> nn.Module:
    """An official/ecalib checkpoint file (its model is read from the weights) or a registered model name."""
    from ecalib.models import create_model, list_models
    from ecalib.models.factory import load_official_checkpoint

    if Path(source).exists():
        return load_official_checkpoint(source, allow_pickle=allow_pickle)
    if source in list_models():
        print(f"{source}: no checkpoint given, exporting its random initial weights", file=sys.stderr)
        return create_model(source).eval()
    raise UsageError(f"{source!r} is neither a checkpoint file nor an ecalib model name (see `ecalib models`)")
