"""Layer classes defined inside Keras Applications (``keras.src.applications.*``), registered under
their module so that a user class of the same name is not mistaken for them."""

from __future__ import annotations

import numpy as np

from ..graph import GraphBuilder, KTensor
from ..registry import KerasLayer, converter
from .common import like
from .merge import _common

CONVNEXT = "keras.src.applications.convnext"
INCEPTION_RESNET_V2 = "keras.src.applications.inception_resnet_v2"


@converter(f"{CONVNEXT}.LayerScale")
def layer_scale(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Mul by the per-channel gamma (ConvNeXt)."""
    x = layer.input
    dim = int(layer.get("projection_dim"))
    if x.shape[-1] not in (None, dim):
        raise layer.fail(f"projection_dim is {dim} but the input has {x.shape[-1]} channels")
    # the variable is unnamed: Keras 3 calls it 'variable', 'variable_1', ... in .h5 files
    stored = layer.weight_list()
    if len(stored) != 1 or stored[0].shape != (dim,):
        raise layer.fail(
            f"needs one weight of shape ({dim},), the file holds {[tuple(w.shape) for w in stored]}; the weights "
            "do not belong to this model configuration"
        )
    gamma = stored[0].astype(np.float32)
    if x.perm is not None:  # broadcast over the channel axis wherever the layout keeps it
        shape = [1] * x.rank
        shape[x.onnx_axis(-1)] = dim
        gamma = gamma.reshape(shape)
    return like(x, g.op("Mul", [x.name, g.const(gamma, "gamma")], name="layer_scale"))


@converter(f"{CONVNEXT}.StochasticDepth")
def stochastic_depth(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """nothing: drops residual paths only while training (ConvNeXt)."""
    return layer.input


@converter(f"{INCEPTION_RESNET_V2}.CustomScaleLayer")
def custom_scale(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Add(x0, Mul(x1, scale)) (InceptionResNetV2)."""
    if len(layer.inputs) != 2:
        raise layer.fail(f"needs two inputs, got {len(layer.inputs)}")
    (a, b), template = _common(layer, g)
    scaled = g.op("Mul", [b, g.const(np.float32(layer.get("scale")), "scale")])
    return KTensor(g.op("Add", [a, scaled], name="custom_scale"), template.shape, template.dtype, template.perm)
