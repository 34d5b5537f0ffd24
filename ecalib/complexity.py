"""Parameters and FLOPs counted the way the paper did, beside the modern convention.

The paper's "Params" are ``count / 2**20`` and its "FLOPs" are thop multiply-accumulates for a
1x3x224x224 input divided by ``2**30`` (``2**20`` for MobileNetV2's "M"); the authors confirmed
binary units in official issue #35. ``torch.utils.flop_counter`` reports the modern figure,
FLOPs = 2 x MACs of the convolutions and matrix products, in decimal units.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ecalib.errors import UsageError
from ecalib.layers import (
    Cbam,
    EcaLayer,
    EcaNonShared,
    SeGroupConv,
    SeVar1,
    SeVar2,
    SeVar3,
    SqueezeExcite,
    TripletAttention,
    set_eca_impl,
)
from ecalib.reference import parse_binary_quantity

ATTENTION_MODULES: tuple[type[nn.Module], ...] = (
    EcaLayer,
    SqueezeExcite,
    Cbam,
    TripletAttention,
    SeVar1,
    SeVar2,
    SeVar3,
    SeGroupConv,
    EcaNonShared,
)
try:  # timm's ECA models use their own module classes
    from timm.layers import CecaModule, EcaModule

    ATTENTION_MODULES += (EcaModule, CecaModule)
except ImportError:  # pragma: no cover - timm is optional for the library
    pass


@dataclass(frozen=True)
class Complexity:
    """Counts for one model at one input size (batch 1)."""

    model: str
    input_size: int
    params: int
    macs: int  # thop multiply-accumulates
    flops: int  # torch.utils.flop_counter (2 x MACs of conv/linear/matmul)
    attention_params: int
    attention_macs: int

    @property
    def params_m(self) -> float:
        return self.params / 2**20

    @property
    def macs_g(self) -> float:
        return self.macs / 2**30

    def as_dict(self) -> dict:
        return {**asdict(self), "params_m": self.params_m, "macs_g": self.macs_g}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _flatten_thop_info(info: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for name, (ops, _params, children) in info.items():
        qual = f"{prefix}{name}"
        out[qual] = float(ops)
        out.update(_flatten_thop_info(children, qual + "."))
    return out


def thop_macs(model: nn.Module, input_size: int = 224) -> tuple[int, dict[str, float]]:
    """thop multiply-accumulates of one ``3 x input_size x input_size`` image, and per module."""
    import thop

    model = copy.deepcopy(model).eval()
    set_eca_impl(model, "reference")  # thop counts modules: the official sequence of them
    x = torch.randn(1, 3, input_size, input_size)
    with torch.no_grad():
        macs, _params, info = thop.profile(model, inputs=(x,), verbose=False, ret_layer_info=True)
    return int(macs), _flatten_thop_info(info)


def modern_flops(model: nn.Module, input_size: int = 224) -> int:
    """FLOPs from ``torch.utils.flop_counter`` (2 per multiply-accumulate of conv/linear/matmul)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(1, 3, input_size, input_size)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def measure_complexity(model: nn.Module | str, input_size: int = 224, name: str | None = None) -> Complexity:
    """Count parameters, thop MACs, modern FLOPs and the attention modules' share of each."""
    if isinstance(model, str):
        from ecalib.models import create_model

        name, model = model, create_model(model)
    if not isinstance(input_size, int) or input_size < 32:
        raise UsageError(f"input_size must be an int >= 32, got {input_size!r}")
    macs, per_module = thop_macs(model, input_size)
    attn_names = [n for n, m in model.named_modules() if isinstance(m, ATTENTION_MODULES)]
    attn_params = sum(count_params(m) for m in model.modules() if isinstance(m, ATTENTION_MODULES))
    return Complexity(
        model=name or type(model).__name__,
        input_size=input_size,
        params=count_params(model),
        macs=macs,
        flops=modern_flops(model, input_size),
        attention_params=attn_params,
        attention_macs=int(sum(per_module.get(n, 0.0) for n in attn_names)),
    )


def _in_printed_unit(value: float, printed: str) -> float:
    """Express an absolute count in the binary unit a reference value was printed in."""
    unit = printed.strip()[-1]
    return value / {"M": 2**20, "G": 2**30}.get(unit, 1)


def complexity_table(names: list[str], input_size: int = 224):
    """One row per model: measured counts, the official README (or paper) values, and the deltas.

    Deltas are relative, in percent of the reference: (measured - reference) / reference.
    Reference values are compared only at the paper's 224 x 224 input.
    """
    import pandas as pd

    from ecalib.models import model_info

    rows = []
    for name in names:
        info = model_info(name)
        c = measure_complexity(name, input_size)
        refs = info.reference_metrics()
        ref_source = next((s for s in ("official README", "paper") if s in refs), None)
        ref = refs.get(ref_source, {}) if input_size == 224 else {}
        row = {
            "model": name,
            "params": c.params,
            "official params": info.num_params,
            "Params (M, 2^20)": c.params_m,
            "MACs (G, 2^30)": c.macs_g,
            "GFLOPs (2xMAC, 1e9)": c.flops / 1e9,
            "reference": ref_source or "",
            "ref Params": ref.get("params", ""),
            "ref FLOPs": ref.get("flops", ""),
            "Params delta %": None,
            "FLOPs delta %": None,
            "measured Params (ref unit)": None,
            "measured FLOPs (ref unit)": None,
            "attention params": c.attention_params,
            "attention params %": 100 * c.attention_params / c.params,
            "attention MACs %": 100 * c.attention_macs / c.macs,
        }
        for key, measured in (("Params", c.params), ("FLOPs", c.macs)):
            printed = ref.get(key.lower(), "")
            reference = parse_binary_quantity(printed) if printed else None
            if reference:
                row[f"{key} delta %"] = 100 * (measured - reference) / reference
                row[f"measured {key} (ref unit)"] = _in_printed_unit(measured, printed)
        rows.append(row)
    return pd.DataFrame(rows)


def readme_comparison(table):
    """A reader-facing view of :func:`complexity_table`: reference vs measured vs delta, per model."""
    import pandas as pd

    def fmt(value, printed, digits=3):
        if value is None or pd.isna(value):
            return ""
        return f"{value:.{digits}f}{printed.strip()[-1] if printed else ''}"

    def pct(value):
        return "" if value is None or pd.isna(value) else f"{value:+.3f}"

    rows = []
    for _, r in table.iterrows():
        expected = r["official params"]
        rows.append(
            {
                "model": r["model"],
                "reference": r["reference"] or "none",
                "Params ref": r["ref Params"],
                "Params measured": fmt(r["measured Params (ref unit)"], r["ref Params"])
                or f"{r['Params (M, 2^20)']:.3f}M",
                "Params Δ %": pct(r["Params delta %"]),
                "FLOPs ref": r["ref FLOPs"],
                "FLOPs measured": fmt(
                    r["measured FLOPs (ref unit)"], r["ref FLOPs"], 1 if r["ref FLOPs"].endswith("M") else 3
                )
                or f"{r['MACs (G, 2^30)']:.3f}G",
                "FLOPs Δ %": pct(r["FLOPs delta %"]),
                "params (exact)": f"{r['params']:,}",
                "official count": "" if pd.isna(expected) else f"{int(expected):,}",
                "GFLOPs (2×MAC)": f"{r['GFLOPs (2xMAC, 1e9)']:.2f}",
                "attention params": f"{r['attention params']:,}",
                "attention % params": f"{r['attention params %']:.4f}",
                "attention % MACs": f"{r['attention MACs %']:.3f}",
            }
        )
    return pd.DataFrame(rows).set_index("model")


def complexity_findings(table) -> str:
    """Markdown bullet points summarising :func:`complexity_table`, every number read from it."""
    import pandas as pd

    lines = []
    ref = table[table["reference"] != ""]
    exact = ref[ref["official params"].notna()]
    if len(exact):
        equal = (exact["params"] == exact["official params"]).all()
        lines.append(
            f"- **Exact counts**: {len(exact)} of {len(exact)} models "
            + ("equal" if equal else "do NOT all equal")
            + " the official models' parameter counts (official count column)."
        )
    for key, unit_col, label in (
        ("Params", "measured Params (ref unit)", "Parameters"),
        ("FLOPs", "measured FLOPs (ref unit)", "FLOPs"),
    ):
        rows = ref[ref[f"{key} delta %"].notna()]
        off = []
        for _, r in rows.iterrows():
            printed = r[f"ref {key}"]
            digits = len(printed[:-1].split(".")[1]) if "." in printed else 0
            measured = f"{r[unit_col]:.{digits}f}{printed[-1]}"
            if measured != printed:
                off.append(
                    f"{r['model']} {measured} vs {printed} ({r[f'{key} delta %']:+.2f} %, from {r['reference']})"
                )
        same = len(rows) - len(off)
        text = f"- **{label}**: {same} of {len(rows)} round to the printed reference value"
        lines.append(text + (": all of them." if not off else "; the others: " + "; ".join(off) + "."))
    worst = ref["FLOPs delta %"].abs()
    if len(worst) and not pd.isna(worst.max()):
        lines.append(
            f"- The largest FLOPs difference is {worst.max():.2f} % ({ref.loc[worst.idxmax(), 'model']}). "
            "The counter behind those README entries is unknown; the deltas are shown, not tuned away."
        )
    return "\n".join(lines)
