"""torchvision networks exported with ``torch.onnx.export`` (the default torch.export-based exporter,
and the older TorchScript one for a few): each must load, compile and pass ``verify`` (1e-6 against
onnxruntime, or no less accurate than onnxruntime against a float64 evaluation of the same ONNX),
and agree with PyTorch's own output.

The networks are seeded with ``weights=None``; their batch-norm statistics are then calibrated on a
random batch (so every layer's activations are of order one: with torchvision's initialization
alone the outputs of the deeper networks shrink to 1e-10 and test nothing), and the affine
parameters of the normalizations perturbed. torch is a test-only extra (``.[torch]``): without it
these tests are skipped, CI installs it.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rmodel
from rmodel.verify import KERAS_RTOL, verify

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytest.importorskip("onnxscript")  # the torch.export-based exporter

pytestmark = pytest.mark.slow

#: name: input side (64 x 64 keeps every network's spatial dims above one where it matters)
NETWORKS: dict[str, int] = {
    "alexnet": 64,
    "resnet18": 64,
    "mobilenet_v2": 64,
    "mobilenet_v3_small": 64,
    "squeezenet1_1": 64,
    "shufflenet_v2_x0_5": 64,
    "googlenet": 64,
    "efficientnet_b0": 64,
    "mnasnet0_5": 64,
    "regnet_y_400mf": 64,
    "convnext_tiny": 64,
}

#: samples per test input: the largest error over several samples is a steadier measure of a
#: float32 engine's accuracy than over one (over single inputs, rmodel's error against float64
#: ranged 0.3-2.1x onnxruntime's on one network, geometric mean 0.7-1.0 over the networks)
SAMPLES = 4

#: rmodel and PyTorch may differ by this many times onnxruntime's error against float64
TORCH_NOISE = 4.0

#: also exported by the TorchScript-based exporter (other operator patterns: Flatten vs Reshape,
#: channel shuffles through Reshape/Transpose, Constant nodes)
LEGACY_EXPORT = ["resnet18", "shufflenet_v2_x0_5"]


def _network(name: str, side: int) -> Any:
    """The seeded network with calibrated batch-norm statistics and perturbed affine parameters."""
    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(weights=None)
    norms = [m for m in net.modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.LayerNorm))]
    with torch.no_grad():
        for m in norms:
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # the running statistics become the calibration batch's
        net.train()
        net(torch.rand(8, 3, side, side) * 2 - 1)
        net.eval()
        for m in norms:
            if m.weight is not None:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net


def _export(net: Any, x: Any, path: Path, dynamo: bool, **options: Any) -> None:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        extra = {} if dynamo else {"opset_version": 17}
        torch.onnx.export(net, (x,), path, dynamo=dynamo, input_names=["x"], output_names=["y"], **extra, **options)


def _check(model: rmodel.RModel, net: Any, x: Any) -> None:
    """verify passes, and rmodel agrees with PyTorch to 1e-5 (scaled) or, where float32 rounding
    alone moves these networks' outputs further (onnxruntime's own error against float64), to
    within TORCH_NOISE times that error: a wrong conversion is off by far more."""
    compiled = model.compile(binding="ctypes")
    feeds = {model.input_names[0]: x.numpy()}
    report = verify(model, feeds, compiled=compiled)
    assert report.ok, str(report)
    check = report.checks[0]
    assert check.max_abs_ref > 1e-2, f"the network's output carries no signal: {report}"
    with torch.no_grad():
        ref = net(x).numpy()
    got = compiled.predict(x.numpy())
    worst = float(np.max(np.abs(got - ref)))
    rounding = check.f64_onnxruntime_bound or 0.0
    bound = max(KERAS_RTOL * max(1.0, float(np.max(np.abs(ref)))), TORCH_NOISE * rounding)
    assert worst <= bound, f"max|rmodel - torch| = {worst:.3g} > {bound:.3g}\n{report}"


@pytest.mark.parametrize(
    "name, exporter", [(n, "dynamo") for n in NETWORKS] + [(n, "torchscript") for n in LEGACY_EXPORT]
)
def test_torchvision_network(name: str, exporter: str, tmp_path: Path) -> None:
    side = NETWORKS[name]
    net = _network(name, side)
    x = torch.rand(SAMPLES, 3, side, side, generator=torch.Generator().manual_seed(1)) * 2 - 1
    path = tmp_path / f"{name}.onnx"
    _export(net, x, path, dynamo=exporter == "dynamo")
    _check(rmodel.from_onnx(path), net, x)


def test_dynamic_batch_export_named_batch(tmp_path: Path) -> None:
    """An export whose batch dim is symbolic under any name (here 'batch') takes batch_size=N, and a
    dynamic-batch header runs any number of samples."""
    net = _network("resnet18", 32)
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    path = tmp_path / "resnet18_batch.onnx"
    _export(net, x, path, dynamo=True, dynamic_shapes={"x": {0: torch.export.Dim("batch", max=64)}})
    _check(rmodel.from_onnx(path, batch_size=3), net, x)
    dynamic = rmodel.from_onnx(path, batch_size=None, max_batch=4)
    report = verify(dynamic, {dynamic.input_names[0]: x.numpy()})
    assert report.ok, str(report)
