"""Tiny Keras models for the Keras front-end tests: one builder per layer and option set."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402


def _keras() -> Any:
    import keras

    return keras


def seq(shape: tuple[int, ...], *layers: Any) -> Any:
    """A Functional model: Input(shape) -> layers in a chain."""
    keras = _keras()
    inp = keras.Input(shape)
    x = inp
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


def randomize(model: Any, seed: int = 0) -> Any:
    """Give every weight random values (so zero biases and unit BN statistics test nothing away)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        if layer.__class__.__name__ == "Normalization" and layer.get_weights():
            mean, variance, count = layer.get_weights()  # variances must stay positive
            layer.set_weights(
                [
                    rng.uniform(-0.6, 0.6, mean.shape).astype(np.float32),
                    rng.uniform(0.2, 2.0, variance.shape).astype(np.float32),
                    count,
                ]
            )
            layer.finalize_state()  # (set_weights alone leaves the layer using the old statistics)
            continue
        for w in layer.get_weights():
            v = rng.uniform(-0.6, 0.6, w.shape).astype(np.float32)
            if "variance" in str(w.dtype) or (
                w.ndim == 1 and w.size and layer.__class__.__name__ == "BatchNormalization"
            ):
                v = np.abs(v) + 0.3
            values.append(v)
        if values:
            layer.set_weights(values)
    return model


#: every built-in Keras activation, each tested as an Activation layer
ACTIVATIONS = [
    "relu",
    "relu6",
    "sigmoid",
    "hard_sigmoid",
    "tanh",
    "softmax",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "swish",
    "silu",
    "gelu",
    "exponential",
    "linear",
    "leaky_relu",
    "mish",
    "hard_silu",
    "log_softmax",
]


def _cases() -> dict[str, Callable[[], Any]]:
    k = _keras()
    lay = k.layers
    c: dict[str, Callable[[], Any]] = {}
    # dense and activations
    c["dense"] = lambda: seq((5,), lay.Dense(4), lay.Dense(3, activation="relu", use_bias=False))
    c["dense_rank3"] = lambda: seq((3, 5), lay.Dense(4, activation="tanh"))
    for act in ACTIVATIONS:
        c[f"activation_{act}"] = lambda a=act: seq((6,), lay.Dense(6), lay.Activation(a))
    c["relu_layer_options"] = lambda: seq(
        (6,), lay.Dense(6), lay.ReLU(max_value=0.4, negative_slope=0.1, threshold=0.05)
    )
    c["relu_layer_max"] = lambda: seq((6,), lay.ReLU(max_value=0.5))
    c["leaky_relu_layer"] = lambda: seq((6,), lay.LeakyReLU(negative_slope=0.25))
    c["prelu_conv_shared"] = lambda: seq((5, 5, 3), lay.Conv2D(4, 3), lay.PReLU(shared_axes=[1, 2]), lay.Flatten())
    c["prelu"] = lambda: seq((3, 4), lay.PReLU())
    c["elu_layer"] = lambda: seq((6,), lay.ELU(alpha=0.7))
    c["softmax_layer_axis1"] = lambda: seq((3, 4), lay.Softmax(axis=1))
    # convolutions
    c["conv2d_valid"] = lambda: seq((7, 6, 3), lay.Conv2D(4, 3, activation="relu"), lay.Flatten(), lay.Dense(2))
    c["conv2d_same_strides"] = lambda: seq((7, 6, 3), lay.Conv2D(4, (3, 2), strides=2, padding="same"))
    c["conv2d_dilation_groups"] = lambda: seq((8, 8, 4), lay.Conv2D(6, 3, dilation_rate=2, groups=2, padding="same"))
    c["conv2d_channels_first"] = lambda: seq(
        (3, 6, 5), lay.Conv2D(4, 3, data_format="channels_first"), lay.MaxPooling2D(data_format="channels_first")
    )
    c["channels_first_misc"] = lambda: seq(
        (2, 5, 4),
        lay.ZeroPadding2D(1, data_format="channels_first"),
        lay.UpSampling2D(2, data_format="channels_first"),
        lay.Cropping2D((1, 2), data_format="channels_first"),
        lay.AveragePooling2D(2, data_format="channels_first"),
        lay.GlobalMaxPooling2D(data_format="channels_first"),
    )
    c["conv3d_pool3d"] = lambda: seq(
        (4, 5, 4, 2), lay.Conv3D(3, 2, padding="same"), lay.MaxPooling3D(2), lay.GlobalAveragePooling3D()
    )
    c["conv1d_transpose_depthwise1d"] = lambda: seq(
        (5, 3), lay.Conv1DTranspose(2, 3, strides=2, padding="same"), lay.DepthwiseConv1D(3, depth_multiplier=2)
    )
    c["conv1d"] = lambda: seq((9, 3), lay.Conv1D(4, 3, strides=2, padding="same"), lay.Conv1D(2, 2, padding="causal"))
    c["depthwise2d"] = lambda: seq((6, 6, 3), lay.DepthwiseConv2D(3, depth_multiplier=2, padding="same"))
    c["separable2d"] = lambda: seq((7, 7, 3), lay.SeparableConv2D(5, 3, strides=2, depth_multiplier=2))
    c["separable1d"] = lambda: seq((8, 3), lay.SeparableConv1D(4, 3, padding="same"))
    c["conv2d_transpose_valid"] = lambda: seq((4, 5, 3), lay.Conv2DTranspose(2, 3, strides=2))
    c["conv2d_transpose_same"] = lambda: seq((4, 5, 3), lay.Conv2DTranspose(2, 3, strides=2, padding="same"))
    c["conv2d_transpose_small_kernel"] = lambda: seq((4, 4, 2), lay.Conv2DTranspose(3, 1, strides=2))
    c["maxpool2d_same"] = lambda: seq((7, 6, 2), lay.MaxPooling2D(3, strides=2, padding="same"))
    c["avgpool2d"] = lambda: seq((7, 6, 2), lay.AveragePooling2D(2), lay.AveragePooling2D(2, padding="same"))
    c["pool1d"] = lambda: seq((9, 2), lay.MaxPooling1D(2), lay.AveragePooling1D(3, strides=1, padding="same"))
    c["global_pool2d"] = lambda: seq((5, 4, 3), lay.Conv2D(3, 1), lay.GlobalAveragePooling2D())
    c["global_max2d_keepdims"] = lambda: seq((5, 4, 3), lay.GlobalMaxPooling2D(keepdims=True))
    c["global_pool1d"] = lambda: seq((6, 3), lay.GlobalMaxPooling1D())
    c["global_avg1d"] = lambda: seq((6, 3), lay.GlobalAveragePooling1D())
    # normalization
    c["batchnorm_conv"] = lambda: seq((5, 5, 3), lay.Conv2D(4, 3), lay.BatchNormalization(), lay.Flatten())
    c["batchnorm_dense_noscale"] = lambda: seq((4,), lay.Dense(5), lay.BatchNormalization(scale=False, epsilon=0.01))
    c["batchnorm_seq"] = lambda: seq((3, 4), lay.BatchNormalization(center=False))
    c["layernorm"] = lambda: seq((3, 4), lay.LayerNormalization())
    c["layernorm_2axes"] = lambda: seq((3, 4), lay.LayerNormalization(axis=[1, 2], center=False))
    # shapes
    c["reshape_permute"] = lambda: seq((6, 4), lay.Reshape((3, 8)), lay.Permute((2, 1)), lay.Dense(2))
    c["permute_conv"] = lambda: seq((3, 5, 4), lay.Permute((2, 3, 1)), lay.Conv2D(2, 2))
    c["repeat_vector"] = lambda: seq((4,), lay.RepeatVector(3), lay.Dense(2))
    c["dropout_noise"] = lambda: seq((4,), lay.Dropout(0.5), lay.GaussianNoise(1.0), lay.Dense(2))
    c["zero_padding2d"] = lambda: seq((4, 5, 2), lay.ZeroPadding2D(((1, 2), (0, 1))), lay.Conv2D(2, 2))
    c["padding_cropping_upsampling3d"] = lambda: seq(
        (3, 4, 3, 2), lay.ZeroPadding3D(1), lay.Cropping3D((1, 0, 1)), lay.UpSampling3D(2)
    )
    c["rescaling"] = lambda: seq((3, 4), lay.Rescaling(0.5, offset=-0.25), lay.SpatialDropout1D(0.3), lay.Identity())
    c["zero_padding1d"] = lambda: seq((4, 2), lay.ZeroPadding1D((2, 1)))
    c["cropping2d"] = lambda: seq((6, 7, 2), lay.Conv2D(2, 1), lay.Cropping2D(((1, 2), (2, 1))))
    c["cropping1d"] = lambda: seq((6, 2), lay.Cropping1D((1, 2)))
    c["upsampling2d"] = lambda: seq((3, 4, 2), lay.Conv2D(2, 1), lay.UpSampling2D((2, 3)))
    c["upsampling2d_bilinear"] = lambda: seq((3, 4, 2), lay.UpSampling2D(2, interpolation="bilinear"))
    c["upsampling1d"] = lambda: seq((3, 2), lay.UpSampling1D(2))
    c["embedding"] = lambda: seq((5,), lay.Embedding(10, 3), lay.Flatten())
    c["einsum_dense"] = lambda: seq((3, 4), lay.EinsumDense("abc,cd->abd", output_shape=(3, 5), bias_axes="d"))
    c["einsum_dense_2"] = lambda: seq((3, 4), lay.EinsumDense("abc,cde->abde", output_shape=(3, 2, 5), bias_axes="de"))
    c["einsum_dense_transposed"] = lambda: seq(
        (3, 4), lay.EinsumDense("abc,bd->adc", output_shape=(2, 4), bias_axes="d")
    )
    c["time_distributed_dense"] = lambda: seq((3, 4), lay.TimeDistributed(lay.Dense(2, activation="relu")))
    c["time_distributed_conv"] = lambda: seq((2, 5, 5, 1), lay.TimeDistributed(lay.Conv2D(2, 3)))
    # recurrent
    c["lstm"] = lambda: seq((5, 3), lay.LSTM(4))
    c["lstm_seq_stacked"] = lambda: seq(
        (5, 3), lay.LSTM(4, return_sequences=True), lay.LSTM(3, return_sequences=True), lay.Dense(2)
    )
    c["lstm_backwards_seq"] = lambda: seq((5, 3), lay.LSTM(4, return_sequences=True, go_backwards=True))
    c["gru_reset_after"] = lambda: seq((5, 3), lay.GRU(4, return_sequences=True))
    c["gru_reset_before"] = lambda: seq((5, 3), lay.GRU(4, reset_after=False, go_backwards=True))
    c["gru_relu_nobias"] = lambda: seq((5, 3), lay.GRU(3, activation="relu", use_bias=False))
    c["simple_rnn"] = lambda: seq((5, 3), lay.SimpleRNN(4, return_sequences=True), lay.SimpleRNN(2))
    for mode in ["concat", "sum", "mul", "ave"]:
        c[f"bidirectional_lstm_{mode}"] = lambda m=mode: seq((4, 3), lay.Bidirectional(lay.LSTM(3), merge_mode=m))
    c["bidirectional_gru_seq"] = lambda: seq((4, 3), lay.Bidirectional(lay.GRU(3, return_sequences=True)))
    # transposed convolutions with output_padding (Keras: output_padding < strides; dilation only with stride 1)
    c["conv_transpose_output_padding_1d"] = lambda: seq(
        (5, 3),
        lay.Conv1DTranspose(2, 3, strides=2, output_padding=1),
        lay.Conv1DTranspose(2, 4, strides=3, padding="same", output_padding=2),
        lay.Conv1DTranspose(2, 3, dilation_rate=2, padding="same", output_padding=0),
    )
    c["conv_transpose_output_padding_2d"] = lambda: seq(
        (4, 5, 3),
        lay.Conv2DTranspose(3, (3, 4), strides=(2, 3), padding="same", output_padding=(1, 2)),
        lay.Conv2DTranspose(2, (1, 2), strides=3, padding="same", output_padding=(2, 1)),
        lay.Conv2DTranspose(2, 2, dilation_rate=2, output_padding=0, activation="relu"),
    )
    c["conv_transpose_output_padding_small_kernel"] = lambda: seq(
        (3, 4, 2), lay.Conv2DTranspose(2, 2, strides=3, output_padding=(2, 1))
    )
    c["conv_transpose_output_padding_3d"] = lambda: seq(
        (3, 3, 2, 2),
        lay.Conv3DTranspose(2, (2, 3, 2), strides=2, padding="same", output_padding=(1, 0, 1)),
        lay.Conv3DTranspose(2, 3, strides=(1, 2, 2), output_padding=(0, 1, 0)),
    )
    # recurrent activations beyond tanh / sigmoid
    c["lstm_hard_sigmoid_linear"] = lambda: seq(
        (5, 3),
        lay.LSTM(4, recurrent_activation="hard_sigmoid", activation="linear", return_sequences=True),
        lay.LSTM(3, recurrent_activation="sigmoid", activation="relu"),
    )
    c["gru_hard_sigmoid_relu"] = lambda: seq(
        (5, 3),
        lay.GRU(4, recurrent_activation="hard_sigmoid", activation="relu", return_sequences=True),
        lay.GRU(3, recurrent_activation="hard_sigmoid", activation="linear", reset_after=False, go_backwards=True),
    )
    c["simple_rnn_activations"] = lambda: seq(
        (5, 3),
        lay.SimpleRNN(4, activation="linear", return_sequences=True),
        lay.SimpleRNN(4, activation="hard_sigmoid", return_sequences=True),
        lay.SimpleRNN(3, activation="elu", return_sequences=True),
        lay.SimpleRNN(3, activation="leaky_relu"),
    )
    c["lstm_softsign_softplus"] = lambda: seq(
        (5, 3), lay.LSTM(3, activation="softsign", recurrent_activation="softplus")
    )
    c["bidirectional_hard_sigmoid"] = lambda: seq(
        (4, 3),
        lay.Bidirectional(
            lay.LSTM(3, recurrent_activation="hard_sigmoid", activation="relu", return_sequences=True), merge_mode="sum"
        ),
    )
    # Bidirectional with a backward layer of its own
    c["bidirectional_backward_activations"] = lambda: seq(
        (4, 3),
        lay.Bidirectional(
            lay.LSTM(3),
            backward_layer=lay.LSTM(
                3, go_backwards=True, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False
            ),
        ),
    )
    c["bidirectional_backward_units"] = lambda: seq(
        (4, 3),
        lay.Bidirectional(
            lay.GRU(3, return_sequences=True), backward_layer=lay.GRU(2, return_sequences=True, go_backwards=True)
        ),
    )
    c["bidirectional_backward_reset_before"] = lambda: seq(
        (4, 3),
        lay.Bidirectional(
            lay.GRU(3), backward_layer=lay.GRU(3, reset_after=False, go_backwards=True), merge_mode="mul"
        ),
    )
    c["bidirectional_forward_goes_backwards"] = lambda: seq(
        (4, 3),
        lay.Bidirectional(
            lay.SimpleRNN(3, go_backwards=True, return_sequences=True),
            merge_mode="ave",
            backward_layer=lay.SimpleRNN(3, return_sequences=True, activation="relu"),
        ),
    )
    # LayerNormalization(rms_scaling=True) and the Normalization preprocessing layer
    c["layernorm_rms_scaling"] = lambda: seq((3, 4), lay.LayerNormalization(rms_scaling=True))
    c["layernorm_rms_scaling_channels_first"] = lambda: seq(
        (4, 4, 3), lay.Conv2D(3, 1), lay.LayerNormalization(axis=[1, 3], rms_scaling=True, epsilon=0.01)
    )
    c["rms_normalization"] = lambda: seq(
        (3, 4), lay.RMSNormalization(), lay.RMSNormalization(axis=[1, 2], epsilon=1e-3)
    )
    c["rms_normalization_channels_first"] = lambda: seq((4, 4, 3), lay.Conv2D(3, 1), lay.RMSNormalization(epsilon=0.01))
    c["normalization"] = lambda: seq((3, 4), lay.Normalization(axis=-1))
    c["normalization_axes_invert"] = lambda: seq(
        (4, 4, 3), lay.Conv2D(3, 1), lay.Normalization(axis=(1, 3)), lay.Normalization(axis=-1, invert=True)
    )
    c["normalization_given_values"] = lambda: seq(
        (2, 3),
        lay.Normalization(axis=None, mean=0.3, variance=2.0),
        lay.Normalization(axis=-1, mean=[0.5, -1.0, 0.0], variance=[4.0, 0.25, 9.0]),
        lay.Normalization(axis=(1, 2), mean=[[0.5, -1.0, 0.0]], variance=[[4.0, 0.25, 0.0]]),
    )
    return c


def _functional_cases() -> dict[str, Callable[[], Any]]:
    k = _keras()
    lay = k.layers
    c: dict[str, Callable[[], Any]] = {}

    def merges() -> Any:
        a, b = k.Input((4,)), k.Input((4,))
        da, db = lay.Dense(4)(a), lay.Dense(4)(b)
        outs = [
            lay.Add()([da, db]),
            lay.Subtract()([da, db]),
            lay.Multiply()([da, db, a]),
            lay.Average()([da, db]),
            lay.Maximum()([da, db]),
            lay.Minimum()([da, db]),
            lay.Concatenate()([da, db]),
            lay.Dot(axes=1)([da, db]),
            lay.Dot(axes=1, normalize=True)([da, db]),
        ]
        return k.Model([a, b], outs)

    def conv_skip() -> Any:
        inp = k.Input((6, 6, 3))
        x = lay.Conv2D(4, 3, padding="same")(inp)
        y = lay.Conv2D(4, 3, padding="same", activation="relu")(x)
        z = lay.Add()([x, y])
        z = lay.Concatenate()([z, x])
        z = lay.BatchNormalization()(z)
        return k.Model(inp, [lay.Flatten()(z), lay.GlobalAveragePooling2D()(z)])

    def shared_and_nested() -> Any:
        shared = lay.Dense(3, activation="tanh")
        inner_in = k.Input((3,))
        inner = k.Model(inner_in, lay.Dense(2)(lay.Dense(3)(inner_in)), name="inner")
        seq_inner = k.Sequential([k.Input((3,)), lay.Dense(3), lay.Dense(2)])
        a, b = k.Input((4,)), k.Input((4,))
        sa, sb = shared(a), shared(b)
        return k.Model([a, b], [inner(sa), inner(sb), seq_inner(sa)])

    def dot3d() -> Any:
        a, b = k.Input((3, 4)), k.Input((5, 4))
        return k.Model([a, b], [lay.Dot(axes=(2, 2))([a, b]), lay.Dot(axes=(1, 1))([a, k.layers.Dense(3)(a)])])

    def lstm_states() -> Any:
        inp = k.Input((4, 3))
        seq_out, h, cstate = lay.LSTM(3, return_sequences=True, return_state=True)(inp)
        out2, h2 = lay.GRU(2, return_state=True)(seq_out)
        bi = lay.Bidirectional(lay.LSTM(2, return_state=True))(inp)
        return k.Model(inp, [seq_out, h, cstate, out2, h2, *bi])

    def bidirectional_none() -> Any:
        inp = k.Input((4, 3))
        return k.Model(inp, lay.Bidirectional(lay.SimpleRNN(2, return_sequences=True), merge_mode=None)(inp))

    def initial_states() -> Any:
        x, h, c_in = k.Input((4, 3)), k.Input((3,)), k.Input((3,))
        _, enc_h, enc_c = lay.LSTM(3, return_state=True)(x)
        decoded = lay.LSTM(3, return_sequences=True)(x, initial_state=[enc_h, enc_c])
        gru = lay.GRU(3, go_backwards=True, return_sequences=True)(x, h)  # positional initial state
        rnn = lay.SimpleRNN(3, activation="relu")(x, initial_state=lay.Dense(3)(c_in))
        return k.Model([x, h, c_in], [decoded, gru, rnn])

    def bidirectional_initial_states() -> Any:
        x, h1, c1, h2, c2 = k.Input((4, 3)), k.Input((3,)), k.Input((3,)), k.Input((3,)), k.Input((3,))
        narrow = k.Input((2,))
        lstm = lay.Bidirectional(lay.LSTM(3, return_sequences=True))(x, initial_state=[h1, c1, h2, c2])
        # different units: a forward and a reverse node, each with its own state
        gru = lay.Bidirectional(
            lay.GRU(3), backward_layer=lay.GRU(2, go_backwards=True, activation="relu"), merge_mode=None
        )(x, initial_state=[h1, narrow])
        rnn = lay.Bidirectional(
            lay.SimpleRNN(3, return_state=True),
            backward_layer=lay.SimpleRNN(3, go_backwards=True, return_state=True, activation="linear"),
        )(x, initial_state=[c1, c2])
        return k.Model([x, h1, c1, h2, c2, narrow], [lstm, *gru, *rnn])

    def bidirectional_mixed_kinds() -> Any:
        x = k.Input((4, 3))
        mixed = lay.Bidirectional(
            lay.LSTM(3, return_sequences=True), backward_layer=lay.GRU(2, go_backwards=True, return_sequences=True)
        )(x)
        out = lay.Bidirectional(
            lay.LSTM(3, return_state=True), backward_layer=lay.LSTM(2, go_backwards=True, return_state=True)
        )(x)
        out2 = lay.Bidirectional(lay.SimpleRNN(3, go_backwards=True), backward_layer=lay.SimpleRNN(3), merge_mode=None)(
            x
        )
        return k.Model(x, [mixed, *out, *out2])

    def dot_mixed_ranks() -> Any:
        a, b, c4 = k.Input((4,)), k.Input((3, 4)), k.Input((2, 3, 4))
        return k.Model(
            [a, b, c4],
            [
                lay.Dot(axes=(1, 2))([a, b]),
                lay.Dot(axes=(2, 1))([b, a]),
                lay.Dot(axes=(3, 1))([c4, a]),
                lay.Dot(axes=(1, 2))([b, c4]),
                lay.Dot(axes=-1, normalize=True)([c4, b]),
                lay.Dot(axes=2)([c4, c4]),
            ],
        )

    def mha_self() -> Any:
        x = k.Input((4, 6))
        return k.Model(x, lay.MultiHeadAttention(num_heads=2, key_dim=3)(x, x))

    def mha_cross_key_no_bias() -> Any:
        q, v, key = k.Input((4, 6)), k.Input((5, 3)), k.Input((5, 7))
        return k.Model([q, v, key], lay.MultiHeadAttention(3, 2, value_dim=4, use_bias=False)(q, v, key=key))

    def mha_keywords_output_shape() -> Any:
        q, v = k.Input((4, 6)), k.Input((5, 3))
        # (key_dim=1 with num_heads equal to a sequence length would hit a Keras TensorFlow-backend bug:
        # ops.add takes the (heads, 1) bias for an NCHW bias_add and adds it along the sequence axis)
        mha = lay.MultiHeadAttention(3, 1, value_dim=2, output_shape=(2, 5))
        return k.Model([q, v], [mha(query=q, value=v), lay.MultiHeadAttention(1, 5, output_shape=3)(v, q, q)])

    def mha_gate_dropout_causal() -> Any:
        x = k.Input((5, 4))
        mha = lay.MultiHeadAttention(2, 3, value_dim=2, use_gate=True, dropout=0.3)
        return k.Model(x, [mha(x, x), lay.MultiHeadAttention(2, 2)(x, x, use_causal_mask=True)])

    def mha_rank4() -> Any:
        x, y = k.Input((2, 3, 4)), k.Input((2, 2, 5))
        return k.Model([x, y], lay.MultiHeadAttention(2, 3)(x, y))

    def transformer_block() -> Any:
        x = k.Input((6, 8))
        h = lay.Dense(8)(x)
        att = lay.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1)(h, h)
        h = lay.LayerNormalization(epsilon=1e-6)(lay.Add()([h, att]))
        ff = lay.Dense(8)(lay.Dense(16, activation="relu")(h))
        h = lay.LayerNormalization(epsilon=1e-6)(lay.Add()([h, ff]))
        return k.Model(x, lay.Dense(3)(lay.GlobalAveragePooling1D()(h)))

    def attention_dot() -> Any:
        q, v, key = k.Input((4, 6)), k.Input((5, 3)), k.Input((5, 6))
        return k.Model(
            [q, v, key],
            [
                lay.Attention()([q, key]),
                lay.Attention(use_scale=True)([q, v, key]),
                lay.Attention()([q, q], use_causal_mask=True),
            ],
        )

    def attention_concat() -> Any:
        q, v, key = k.Input((4, 6)), k.Input((5, 3)), k.Input((5, 6))
        return k.Model(
            [q, v, key],
            [
                lay.Attention(score_mode="concat")([q, key]),
                lay.Attention(score_mode="concat", use_scale=True)([q, v, key], use_causal_mask=True),
            ],
        )

    def additive_attention() -> Any:
        q, v, key = k.Input((4, 6)), k.Input((5, 3)), k.Input((5, 6))
        return k.Model(
            [q, v, key],
            [
                lay.AdditiveAttention()([q, key]),
                lay.AdditiveAttention(use_scale=False)([q, v, key], use_causal_mask=True),
            ],
        )

    def group_normalization() -> Any:
        x, flat = k.Input((3, 4, 6)), k.Input((8,))
        return k.Model(
            [x, flat],
            [
                lay.GroupNormalization(2)(x),
                lay.GroupNormalization(3, axis=1, center=False)(x),
                lay.GroupNormalization(-1, scale=False, epsilon=0.1)(x),
                lay.GroupNormalization(1, axis=2)(lay.Conv2D(6, 1)(x)),
                lay.GroupNormalization(4)(flat),
            ],
        )

    def unit_normalization() -> Any:
        x = k.Input((3, 4, 6))
        conv = lay.Conv2D(6, 1)(x)  # channels-first inside the graph
        return k.Model(
            x, [lay.UnitNormalization()(x), lay.UnitNormalization(axis=[1, 3])(x), lay.UnitNormalization()(conv)]
        )

    c["mha_self"] = mha_self
    c["mha_cross_key_no_bias"] = mha_cross_key_no_bias
    c["mha_keywords_output_shape"] = mha_keywords_output_shape
    c["mha_gate_dropout_causal"] = mha_gate_dropout_causal
    c["mha_rank4"] = mha_rank4
    c["transformer_block"] = transformer_block
    c["attention_dot"] = attention_dot
    c["attention_concat"] = attention_concat
    c["additive_attention"] = additive_attention
    c["group_normalization"] = group_normalization
    c["unit_normalization"] = unit_normalization
    c["initial_states"] = initial_states
    c["bidirectional_initial_states"] = bidirectional_initial_states
    c["bidirectional_mixed_kinds"] = bidirectional_mixed_kinds
    c["dot_mixed_ranks"] = dot_mixed_ranks
    c["merges"] = merges
    c["conv_skip"] = conv_skip
    c["shared_and_nested"] = shared_and_nested
    c["dot3d"] = dot3d
    c["rnn_states"] = lstm_states
    c["bidirectional_none"] = bidirectional_none
    return c


def all_cases() -> dict[str, Callable[[], Any]]:
    return {**_cases(), **_functional_cases()}


CASE_NAMES = [
    "dense",
    "dense_rank3",
    *[f"activation_{a}" for a in ACTIVATIONS],
    "relu_layer_options",
    "relu_layer_max",
    "leaky_relu_layer",
    "prelu_conv_shared",
    "prelu",
    "elu_layer",
    "softmax_layer_axis1",
    "conv2d_valid",
    "conv2d_same_strides",
    "conv2d_dilation_groups",
    "conv2d_channels_first",
    "channels_first_misc",
    "conv3d_pool3d",
    "conv1d_transpose_depthwise1d",
    "conv1d",
    "depthwise2d",
    "separable2d",
    "separable1d",
    "conv2d_transpose_valid",
    "conv2d_transpose_same",
    "conv2d_transpose_small_kernel",
    "maxpool2d_same",
    "avgpool2d",
    "pool1d",
    "global_pool2d",
    "global_max2d_keepdims",
    "global_pool1d",
    "global_avg1d",
    "batchnorm_conv",
    "batchnorm_dense_noscale",
    "batchnorm_seq",
    "layernorm",
    "layernorm_2axes",
    "reshape_permute",
    "permute_conv",
    "repeat_vector",
    "dropout_noise",
    "zero_padding2d",
    "padding_cropping_upsampling3d",
    "rescaling",
    "zero_padding1d",
    "cropping2d",
    "cropping1d",
    "upsampling2d",
    "upsampling2d_bilinear",
    "upsampling1d",
    "embedding",
    "einsum_dense",
    "einsum_dense_2",
    "einsum_dense_transposed",
    "time_distributed_dense",
    "time_distributed_conv",
    "lstm",
    "lstm_seq_stacked",
    "lstm_backwards_seq",
    "gru_reset_after",
    "gru_reset_before",
    "gru_relu_nobias",
    "simple_rnn",
    *[f"bidirectional_lstm_{m}" for m in ["concat", "sum", "mul", "ave"]],
    "bidirectional_gru_seq",
    "merges",
    "conv_skip",
    "shared_and_nested",
    "dot3d",
    "rnn_states",
    "bidirectional_none",
    # options that used to be rejected
    "conv_transpose_output_padding_1d",
    "conv_transpose_output_padding_2d",
    "conv_transpose_output_padding_small_kernel",
    "conv_transpose_output_padding_3d",
    "lstm_hard_sigmoid_linear",
    "gru_hard_sigmoid_relu",
    "simple_rnn_activations",
    "lstm_softsign_softplus",
    "bidirectional_hard_sigmoid",
    "bidirectional_backward_activations",
    "bidirectional_backward_units",
    "bidirectional_backward_reset_before",
    "bidirectional_forward_goes_backwards",
    "layernorm_rms_scaling",
    "layernorm_rms_scaling_channels_first",
    "rms_normalization",
    "rms_normalization_channels_first",
    "normalization",
    "normalization_axes_invert",
    "normalization_given_values",
    "initial_states",
    "bidirectional_initial_states",
    "bidirectional_mixed_kinds",
    "dot_mixed_ranks",
    # attention and the normalizations used with it
    "mha_self",
    "mha_cross_key_no_bias",
    "mha_keywords_output_shape",
    "mha_gate_dropout_causal",
    "mha_rank4",
    "transformer_block",
    "attention_dot",
    "attention_concat",
    "additive_attention",
    "group_normalization",
    "unit_normalization",
]


def randomize_batch_norm(model: Any, seed: int = 0) -> Any:
    """Batch-norm statistics away from the identity (the kernels keep Keras' initializers, so that
    a deep network's activations neither vanish nor explode)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, _keras().layers.BatchNormalization):
            ranges = {
                "gamma": (0.5, 1.5),
                "beta": (-0.2, 0.2),
                "moving_mean": (-0.2, 0.2),
                "moving_variance": (0.5, 1.5),
            }
            values = []
            for w in layer.weights:
                low, high = ranges[w.name]
                values.append(rng.uniform(low, high, tuple(w.shape)).astype(np.float32))
            layer.set_weights(values)
    return model


def inputs_for(model: Any, rng: np.random.Generator, batch: int = 2) -> list[np.ndarray]:
    """Random inputs; integer-valued ones for embeddings."""
    xs = []
    for t in model.inputs:
        shape = (batch, *t.shape[1:])
        if any(layer.__class__.__name__ == "Embedding" for layer in model.layers):
            xs.append(rng.integers(0, 10, shape).astype(np.float32))
        else:
            xs.append(rng.uniform(-1, 1, shape).astype(np.float32))
    return xs


def keras_outputs(model: Any, xs: list[np.ndarray]) -> list[np.ndarray]:
    out = model(xs if len(xs) > 1 else xs[0], training=False)
    out = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o.numpy() if hasattr(o, "numpy") else o) for o in out]
