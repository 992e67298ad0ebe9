"""Float functions of one value as C++ expressions: the single definition of Relu, Sigmoid,
HardSigmoid, Softplus... shared by the elementwise operators and the activations of the recurrent
layers (LSTM, GRU and RNN), so both compute the same function with the same C++.

A template is a C++ expression of ``{v}`` (a float) with the function's attributes as ``{alpha}``,
``{beta}``, ``{gamma}``; templates calling ``detail::`` functions need ``mathfn.use(ctx)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from .base import float_literal
from .mathfn import EXP, SIGMOID, TANH


class FloatFunction(NamedTuple):
    """One function of a float: its ONNX name, attribute defaults and C++ template."""

    name: str
    #: attribute name -> default value (the attributes the template uses)
    defaults: Mapping[str, float]
    #: C++ expression of ``{v}`` with the attributes as ``{alpha}``...
    template: str

    def expression(self, value: str, params: Mapping[str, float]) -> str:
        """The C++ expression of this function of the C++ expression ``value`` (an identifier
        or something else that binds tighter than any operator of the template)."""
        return self.template.format(v=value, **{name: float_literal(x) for name, x in params.items()})

    @property
    def uses_mathfn(self) -> bool:
        """Whether the expression calls operators/mathfn.py's functions (``mathfn.use`` first)."""
        return "detail::" in self.template


def _table(*functions: FloatFunction) -> dict[str, FloatFunction]:
    return {f.name: f for f in functions}


#: the float functions that are ONNX operators (elementwise, one input), by op type
FUNCTIONS: dict[str, FloatFunction] = _table(
    FloatFunction("Relu", {}, "{v} < 0.0f ? 0.0f : {v}"),  # NaN stays NaN
    FloatFunction("LeakyRelu", {"alpha": 0.01}, "{v} >= 0.0f ? {v} : {alpha} * {v}"),
    FloatFunction("Elu", {"alpha": 1.0}, f"{{v}} >= 0.0f ? {{v}} : {{alpha}} * ({EXP}({{v}}) - 1.0f)"),
    FloatFunction(
        "Celu",
        {"alpha": 1.0},
        f"std::max({{v}}, 0.0f) + std::min({{alpha}} * ({EXP}({{v}} / {{alpha}}) - 1.0f), 0.0f)",
    ),
    FloatFunction(
        "Selu",
        {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875},
        f"{{v}} > 0.0f ? {{gamma}} * {{v}} : {{gamma}} * ({{alpha}} * {EXP}({{v}}) - {{alpha}})",
    ),
    FloatFunction("ThresholdedRelu", {"alpha": 1.0}, "{v} > {alpha} ? {v} : 0.0f"),
    FloatFunction("Sigmoid", {}, f"{SIGMOID}({{v}})"),
    FloatFunction("HardSigmoid", {"alpha": 0.2, "beta": 0.5}, "std::max(std::min({alpha} * {v} + {beta}, 1.0f), 0.0f)"),
    # in double, rounded once: three float roundings were 1.35x onnxruntime's error (rms, vs float64)
    FloatFunction(
        "HardSwish", {}, "static_cast<float>(double({v}) * std::max(std::min(double({v}) / 6.0 + 0.5, 1.0), 0.0))"
    ),
    FloatFunction("Tanh", {}, f"{TANH}({{v}})"),
    FloatFunction("Softplus", {}, "{v} > 20.0f ? {v} : std::log1p(std::exp({v}))"),
    FloatFunction("Softsign", {}, "{v} / (1.0f + std::fabs({v}))"),
    FloatFunction("Mish", {}, "{v} * std::tanh({v} > 20.0f ? {v} : std::log1p(std::exp({v})))"),
    FloatFunction("Exp", {}, f"{EXP}({{v}})"),
    FloatFunction("Log", {}, "std::log({v})"),
    FloatFunction("Sqrt", {}, "std::sqrt({v})"),
    FloatFunction("Reciprocal", {}, "1.0f / {v}"),
    FloatFunction("Erf", {}, "std::erf({v})"),
    FloatFunction("Sin", {}, "std::sin({v})"),
    FloatFunction("Cos", {}, "std::cos({v})"),
    FloatFunction("Floor", {}, "std::floor({v})"),
    FloatFunction("Ceil", {}, "std::ceil({v})"),
    FloatFunction("Round", {}, "std::nearbyint({v})"),
)

#: activations of the recurrent layers that are no ONNX operator (experimental ops of opset 1);
#: they have no ONNX default, so alpha and beta default to 0 as in onnxruntime's recurrent layers
RECURRENT_ONLY: dict[str, FloatFunction] = _table(
    FloatFunction("Affine", {"alpha": 0.0, "beta": 0.0}, "{alpha} * {v} + {beta}"),
    FloatFunction("ScaledTanh", {"alpha": 0.0, "beta": 0.0}, f"{{alpha}} * {TANH}({{beta}} * {{v}})"),
)

__all__ = ["FUNCTIONS", "RECURRENT_ONLY", "FloatFunction"]
