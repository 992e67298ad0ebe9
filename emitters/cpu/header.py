"""The CPU target: one self-contained C++17 header with a ``Session`` class and ``infer()``."""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass

import numpy as np

from rmodel._version import __version__
from rmodel.cpp_sources import cpp_source
from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError
from rmodel.model import RModel
from rmodel.naming import UniqueNames, cpp_string, identifier, quoted
from rmodel.operators.base import CpuContext
from rmodel.passes.memory import ALIGN_ELEMENTS, MemoryPlan, plan_memory
from rmodel.tensor import DTYPE_TAGS, TensorInfo, cpp_type

from ..literals import BYTES_MIN_ELEMENTS, array_definition, bytes_definition
from .helper_code import helper_code

WEIGHT_FILE_MAGIC = b"RMODELW1"
#: models with more outputs get no infer() overload returning a std::tuple of vectors (g++ gives up
#: on tuples of about a thousand elements; verify's probe returns every intermediate tensor)
MAX_TUPLE_OUTPUTS = 64
_RESERVED = {"infer", "Session", "kBatchSize", "detail"}


@dataclass
class HeaderLayout:
    """Names the header gives to the model's tensors (also used by the binding emitters)."""

    namespace: str
    input_params: list[str]
    output_params: list[str]


def weight_checksum(data: bytes) -> int:
    """Position-weighted sum over the 32-bit words of ``data`` (mod 2**64); the header recomputes it."""
    words = np.frombuffer(data, dtype="<u4").astype(np.uint64)
    weights = np.arange(words.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        return int(np.sum((words + np.uint64(1)) * weights, dtype=np.uint64))


def header_layout(model: RModel, namespace: str | None = None) -> HeaderLayout:
    names = UniqueNames(_RESERVED)
    ns = identifier(namespace, "model") if namespace else model.default_namespace
    return HeaderLayout(
        namespace=ns,
        # prefixed so that no local name in operator code can shadow a parameter
        # (keyed by the raw names: 'a.b' and 'a_b' are different inputs with different parameters)
        input_params=[names("in_" + i.name, "in") for i in model.inputs],
        output_params=[names("out_" + o.name, "out") for o in model.outputs],
    )


class _WeightPool:
    """The header's constant data: C++ arrays (embedded) or slices of the weight file, shared by
    every operator and, for a dynamic batch, by every batch kernel (same name and data: one copy)."""

    def __init__(self, weights: str):
        self.weights = weights
        self.names = UniqueNames()
        self.definitions: list[str] = []
        self.file_chunks: list[bytes] = []
        self.file_offset = 0
        self._by_content: dict[tuple[str, bytes], str] = {}
        self._derived: dict[bytes, str] = {}
        self._named: set[str] = set()
        #: some array is embedded as bytes (the header then defines float_alias and checks byte order)
        self.uses_bytes = False

    @staticmethod
    def _key(value: np.ndarray) -> bytes:
        return value.dtype.str.encode() + str(value.shape).encode() + value.tobytes()

    def add(self, cname: str, value: np.ndarray) -> str:
        """Pointer expression for constant ``cname`` holding ``value``."""
        value = np.ascontiguousarray(value)
        key = (cname, self._key(value))
        if key in self._by_content:
            return self._by_content[key]
        if self.weights == "file" and value.dtype == np.float32 and value.size >= ALIGN_ELEMENTS:
            padded = np.zeros(-(-value.size // ALIGN_ELEMENTS) * ALIGN_ELEMENTS, dtype="<f4")
            padded[: value.size] = value.ravel()
            self.file_chunks.append(padded.tobytes())
            self.file_offset += padded.size
            expr = f"(weights_.data() + {self.file_offset - padded.size})"
        else:
            # a name seen before with other data (a batch-dependent constant) gets an identifier of its own
            hint = cname if cname not in self._named else f"{cname} #{len(self._by_content)}"
            ident = "w_" + self.names(hint, "w")
            if value.dtype == np.float32 and value.size >= BYTES_MIN_ELEMENTS:
                if not self.uses_bytes:
                    self.definitions.insert(0, cpp_source("rmodel.emitters.cpu", "weight_bytes.h", "float_alias"))
                self.uses_bytes = True
                self.definitions.append(f"// constant {quoted(cname)}\n" + bytes_definition(ident, value))
                expr = f"detail::{ident}()"
            else:
                self.definitions.append(f"// constant {quoted(cname)}\n" + array_definition(ident, value))
                expr = f"detail::{ident}"
        self._named.add(cname)
        self._by_content[key] = expr
        return expr

    def add_derived(self, owner: str, hint: str, value: np.ndarray) -> str:
        """Pointer expression for data operator ``owner`` derives (packed weights), one copy per
        content, named after the operator (``w_<owner>_<hint>``)."""
        value = np.ascontiguousarray(value)
        key = self._key(value)
        if key not in self._derived:
            name = hint if hint.startswith(owner) else f"{owner}_{hint}"
            self._derived[key] = self.add(name, value)
        return self._derived[key]


def _emit_body(
    model: RModel, layout: HeaderLayout, plan: MemoryPlan, pool: _WeightPool, helpers: dict[str, str]
) -> CppWriter:
    """The statements of one inference at ``model``'s batch size (a function body)."""
    pointers: dict[str, str] = {}
    for info, param in zip(model.inputs, layout.input_params):
        pointers[info.name] = param
    produced = {o for op in model.operators for o in op.outputs if o}
    for info, param in zip(model.outputs, layout.output_params):
        if info.name in produced:
            pointers.setdefault(info.name, param)
    # one named pointer per tensor of the scratch arena, declared at the top of the function
    local_names = UniqueNames([*layout.input_params, *layout.output_params, *_RESERVED])
    declarations: dict[str, str] = {}
    for name, (dtype, offset) in plan.offsets.items():
        ident = local_names("t_" + name, "t")
        pointers[name] = ident
        info = model.tensors[name]
        declarations[ident] = (
            f"{cpp_type(dtype)}* const {ident} = arena_{DTYPE_TAGS[dtype]}_ + {offset};  // {quoted(name)} "
            f"{np.dtype(info.dtype).name}[{'x'.join(map(str, info.shape)) or 'scalar'}]"
        )

    def pointer(name: str) -> str:
        """Pointer expression; constants are emitted on first use, so unread ones cost nothing."""
        if name not in pointers:
            if name not in model.constants:
                raise RModelError(f"internal error: tensor '{name}' has no storage")
            pointers[name] = pool.add(name, model.constants[name])
        return pointers[name]

    def add_helper(key: str, code: str) -> None:
        helpers.setdefault(key, code)

    steps = CppWriter()  # the operators' code and the output copies
    for index, op in enumerate(model.operators):
        scratch = {}
        for dtype, offset in plan.scratch.get(index, {}).items():
            ident = local_names(f"ws_{op.name}_{DTYPE_TAGS[dtype]}", "ws")
            scratch[dtype] = ident
            declarations[ident] = (
                f"{cpp_type(dtype)}* const {ident} = arena_{DTYPE_TAGS[dtype]}_ + {offset};  // workspace of "
                f"{quoted(op.name)}"
            )
        ctx = CpuContext(
            pointer=pointer,
            tensors=model.tensors,
            constants=model.constants,
            scratch=scratch,
            add_helper=add_helper,
            add_constant=functools.partial(pool.add_derived, op.name),
        )
        writer = CppWriter()
        try:
            op.emit_cpu(ctx, writer)
            code = writer.text()
        except RModelError:
            raise
        except Exception as exc:  # a node whose attributes passed loading but cannot be emitted
            raise RModelError(
                f"node {quoted(op.name)} ({op.op_type}): cannot generate code ({type(exc).__name__}: {exc}); "
                "if the model passes onnx.checker.check_model, please report this"
            ) from exc
        steps.comment(f"[{index}] {op.comment()}")
        with steps.block():
            steps(code.strip("\n"))
    # outputs that no operator writes (constants, inputs, repeated outputs) are copied
    for info, param in zip(model.outputs, layout.output_params):
        source = pointer(info.name)
        if source == param:
            continue
        steps.comment(
            f"output {quoted(info.name)} is a copy of {'a constant' if info.name in model.constants else 'another tensor'}"
        )
        steps(f"std::memcpy({param}, {source}, {info.size} * sizeof({cpp_type(info.dtype)}));")
    text = steps.text()
    body = CppWriter()
    used = [line for ident, line in declarations.items() if re.search(rf"\b{ident}\b", text)]
    if used:
        body.comment("intermediate tensors and workspaces in the scratch arena (never alive together: shared memory)")
        body(*used)
    # parameters the code never reads or writes (inputs that do not affect the outputs, empty
    # outputs) are marked used, so the header stays warning-free (the last parameter first)
    params = [*zip(model.inputs, layout.input_params), *zip(model.outputs, layout.output_params)]
    for info, param in reversed(params):
        if not re.search(rf"\b{re.escape(param)}\b", text):
            body(f"(void){param};  // {quoted(info.name)} is not read or written by any operator")
    body.extend(steps)
    return body


#: weights="auto" embeds up to this many bytes of weights in the header and writes more to the side
#: file: g++ needs about 16 times the weights' size in memory for embedded byte strings (ResNet50's
#: 102 MB: 1.6 GB and 4.3 s; VGG19's 575 MB: it gave up after 84 s and 10.7 GB), and a header that
#: reads a side file compiles in a second whatever the weights (benchmarks/compile_scale.py)
AUTO_EMBED_MAX_BYTES = 128 << 20


def weight_bytes(model: RModel) -> int:
    """Bytes of the weights the generated code uses (the largest of the batch kernels)."""
    kernels = [model, *model.batch_variants]
    return max(sum(int(k.constants[n].nbytes) for n in k.used_constants()) for k in kernels)


def resolve_weights(model: RModel, weights: str) -> str:
    """``weights`` as 'embedded' or 'file': 'auto' embeds up to AUTO_EMBED_MAX_BYTES of weights."""
    if weights not in ("auto", "embedded", "file"):
        raise RModelError(f"weights must be 'auto', 'embedded' or 'file', got '{weights}'")
    if weights == "auto":
        return "file" if weight_bytes(model) > AUTO_EMBED_MAX_BYTES else "embedded"
    return weights


def generate_header(model: RModel, namespace: str | None = None, weights: str = "auto") -> tuple[str, bytes | None]:
    """Return (header text, weight file bytes or None)."""
    weights = resolve_weights(model, weights)
    layout = header_layout(model, namespace)
    kernels = [model, *model.batch_variants]
    lim = model.limits
    pool = _WeightPool(weights)
    helpers: dict[str, str] = {}
    bodies: list[CppWriter] = []
    arena_sizes: dict[np.dtype, int] = {}
    for kernel in kernels:
        plan = plan_memory(kernel)
        for dtype, size in plan.arena_sizes.items():
            arena_sizes[dtype] = max(arena_sizes.get(dtype, 0), size)
        arena_bytes = sum(size * np.dtype(dtype).itemsize for dtype, size in arena_sizes.items())
        lim.check("the scratch arena in bytes", arena_bytes, "max_arena_bytes", f"model {quoted(model.name)}")
        used_bytes = sum(int(kernel.constants[n].nbytes) for n in kernel.used_constants())
        lim.check("the weights in bytes", used_bytes, "max_weight_bytes", f"model {quoted(model.name)}")
        if weights == "embedded" and 3 * used_bytes > lim.max_header_bytes:  # ~12 characters per float as text
            raise lim.exceeded(
                "the embedded weights' estimated text size in bytes (generate with weights='file' to keep them "
                "out of the header)",
                3 * used_bytes,
                "max_header_bytes",
                f"model {quoted(model.name)}",
            )
        bodies.append(_emit_body(kernel, layout, plan, pool, helpers))

    blob = None
    if weights == "file":
        data = b"".join(pool.file_chunks)
        blob = WEIGHT_FILE_MAGIC + struct.pack("<QQ", pool.file_offset, weight_checksum(data)) + data
    used_helpers = helper_code(helpers.values(), "\n".join(body.text() for body in bodies))
    code = _assemble(model, layout, arena_sizes, used_helpers, pool.definitions, bodies, weights, pool.file_offset)
    lim.check("the generated header in bytes", len(code), "max_header_bytes", f"model {quoted(model.name)}")
    return code, blob


def batchable(model: RModel) -> bool:
    """True if every input and output has the batch as its first axis, so samples can be run in
    chunks of the compiled batch (``infer_many``, ``predict`` on any number of samples)."""
    infos = [*model.inputs, *model.outputs]
    return bool(model.inputs) and all(i.rank >= 1 and i.shape[0] == model.batch_size for i in infos)


def _infer_many(model: RModel, layout: HeaderLayout) -> tuple[list[str], list[str], CppWriter]:
    """(declaration, staging members, definition) of ``Session::infer_many``."""
    ins = list(zip(model.inputs, layout.input_params))
    outs = list(zip(model.outputs, layout.output_params))
    batch = model.batch_size
    members = [f"alignas(64) {cpp_type(i.dtype)} stage_{p}_[{i.size}];" for i, p in ins + outs]
    params = ", ".join(
        [f"const {cpp_type(i.dtype)}* {p}" for i, p in ins] + [f"{cpp_type(o.dtype)}* {p}" for o, p in outs]
    )
    full = ", ".join([f"{p} + done * {i.size // batch}" for i, p in ins + outs])
    staged = ", ".join(f"stage_{p}_" for _, p in ins + outs)
    w = CppWriter()
    with w.block(f"inline void Session::infer_many(std::size_t n, {params})"):
        w("std::size_t done = 0;")
        w(f"for (; n - done >= kBatchSize; done += kBatchSize) infer({full});")
        w("const std::size_t rest = n - done;")
        w("if (rest == 0) return;")
        w.comment("the last, partial batch goes through zero-padded staging buffers")
        for i, p in ins:
            per = i.size // batch
            w(f"std::fill_n(stage_{p}_, {i.size}, {cpp_type(i.dtype)}());")
            w(f"std::copy_n({p} + done * {per}, rest * {per}, stage_{p}_);")
        w(f"infer({staged});")
        for o, p in outs:
            per = o.size // batch
            w(f"std::copy_n(stage_{p}_, rest * {per}, {p} + done * {per});")
    declaration = [
        "/// Runs n samples (any n): full batches straight through, a last partial batch through",
        "/// zero-padded staging buffers. Each buffer holds n samples back to back; never allocates.",
        f"void infer_many(std::size_t n, {params});",
    ]
    return declaration, members, w


def _signature(model: RModel, layout: HeaderLayout) -> str:
    params = [f"const {cpp_type(i.dtype)}* {p}" for i, p in zip(model.inputs, layout.input_params)]
    params += [f"{cpp_type(o.dtype)}* {p}" for o, p in zip(model.outputs, layout.output_params)]
    return ", ".join(params)


def _sample_size(info: TensorInfo, batch: int) -> int:
    return info.size // batch if batch else 0


def _define(w: CppWriter, head: str, body: CppWriter) -> None:
    """The function ``head`` with statements ``body``, and a blank line."""
    with w.block(head):
        w.extend(body)
    w("")


def _dynamic_infer(model: RModel, layout: HeaderLayout, bodies: list[CppWriter]) -> tuple[list[str], CppWriter]:
    """(class members, definitions) of a dynamic-batch Session: ``infer(batch, ...)`` splits the
    samples greedily over the batch kernels (largest first), each a private ``run_batchN``."""
    signature = _signature(model, layout)
    sizes = model.batch_sizes
    ins = list(zip(model.inputs, layout.input_params))
    outs = list(zip(model.outputs, layout.output_params))
    top = model.batch_size

    def call(size: int) -> str:
        args = ", ".join(f"{p} + done * {_sample_size(i, top)}" for i, p in ins + outs)
        return f"run_batch{size}({args});"

    members = [f"void run_batch{size}({signature});" for size in sizes]
    w = CppWriter()
    with w.block(f"inline void Session::infer(std::size_t batch, {signature})"):
        w("std::size_t done = 0;")
        w(f"for (; batch - done >= {top}; done += {top}) {call(top)}")
        for size in sizes[1:]:
            with w.block(f"if (batch - done >= {size})"):
                w(call(size))
                w(f"done += {size};")
    w("")
    for size, body in zip(sizes, bodies):
        w.comment(f"---- the kernel for batches of {size} ----")
        _define(w, f"inline void Session::run_batch{size}({signature})", body)
    return members, w


def _assemble(model, layout, arena_sizes, helpers, weight_defs, bodies, weights, weight_count) -> str:
    dynamic = model.dynamic_batch
    top = model.batch_size
    ins = "\n".join(f"//   {i.describe()}" for i in model.inputs)
    outs = "\n".join(f"//   {o.describe()}" for o in model.outputs)
    batch_param = "std::size_t batch, " if dynamic else ""
    in_params = ", ".join(f"const {cpp_type(i.dtype)}* {p}" for i, p in zip(model.inputs, layout.input_params))
    in_args = ", ".join(layout.input_params)
    convenience = len(model.outputs) <= MAX_TUPLE_OUTPUTS
    if len(model.outputs) == 1:
        ret_type = f"std::vector<{cpp_type(model.outputs[0].dtype)}>"
    else:
        ret_type = "std::tuple<" + ", ".join(f"std::vector<{cpp_type(o.dtype)}>" for o in model.outputs) + ">"
    # std::vector<bool> has no data(): bool outputs go through a plain buffer
    is_bool = [o.dtype == np.bool_ for o in model.outputs]
    counts = [f"batch * {_sample_size(o, top)}" if dynamic else str(o.size) for o in model.outputs]
    out_vectors = [
        f"std::unique_ptr<bool[]> r{k}(new bool[{count}]);"
        if flag
        else f"std::vector<{cpp_type(o.dtype)}> r{k}({count});"
        for k, (o, flag, count) in enumerate(zip(model.outputs, is_bool, counts))
    ]
    out_args = ", ".join(f"r{k}.get()" if flag else f"r{k}.data()" for k, flag in enumerate(is_bool))
    results = [
        f"std::vector<bool>(r{k}.get(), r{k}.get() + {count})" if flag else f"std::move(r{k})"
        for k, (flag, count) in enumerate(zip(is_bool, counts))
    ]
    ret_expr = ("r0" if not is_bool[0] else results[0]) if len(model.outputs) == 1 else "{" + ", ".join(results) + "}"
    arenas = [
        f"alignas(64) {cpp_type(dtype)} arena_{DTYPE_TAGS[dtype]}_[{size}];"
        for dtype, size in sorted(arena_sizes.items(), key=lambda kv: DTYPE_TAGS[kv[0]])
        if size > 0
    ]
    if dynamic:
        shapes = "\n".join(
            f"inline constexpr std::size_t k{kind}SampleShape{k}[] = {{{', '.join(map(str, t.shape[1:])) or '1'}}};"
            f"  // {quoted(t.name)} without the batch axis"
            for kind, tensors in (("Input", model.inputs), ("Output", model.outputs))
            for k, t in enumerate(tensors)
        )
    else:
        shapes = "\n".join(
            f"inline constexpr std::size_t k{kind}Shape{k}[] = {{{', '.join(map(str, t.shape)) or '1'}}};  // {quoted(t.name)}"
            for kind, tensors in (("Input", model.inputs), ("Output", model.outputs))
            for k, t in enumerate(tensors)
        )
    file_mode = weights == "file"
    ctor = (
        [
            "/// Loads the weights written next to the header by rmodel (throws std::runtime_error).",
            "explicit Session(const std::string& weights_path);",
        ]
        if file_mode
        else ["Session() = default;"]
    )
    members = list(arenas)
    many = _infer_many(model, layout) if batchable(model) and not dynamic else None
    if many:
        members += many[1]
    if file_mode:
        members.append("std::vector<float> weights_;")
    if dynamic:
        kernels, definitions = _dynamic_infer(model, layout, bodies)
        members = [*kernels, *members]
        sample_sizes = [
            "constexpr bool kDynamicBatch = true;  // the batch is the first argument of infer()",
            f"constexpr std::size_t kMaxBatch = {top};  // the largest batch kernel; larger batches run in chunks",
            "inline constexpr std::size_t kBatchKernels[] = {" + ", ".join(map(str, model.batch_sizes)) + "};",
            f"constexpr std::size_t kNumInputs = {len(model.inputs)};",
            f"constexpr std::size_t kNumOutputs = {len(model.outputs)};",
            "// sizes of one sample (a batch of n samples holds n times as many values)",
            "inline constexpr std::size_t kInputSampleSizes[] = {"
            + ", ".join(str(_sample_size(i, top)) for i in model.inputs)
            + "};",
            "inline constexpr std::size_t kOutputSampleSizes[] = {"
            + ", ".join(str(_sample_size(o, top)) for o in model.outputs)
            + "};",
        ]
    else:
        definitions = CppWriter()
        _define(definitions, f"inline void Session::infer({_signature(model, layout)})", bodies[0])
        sample_sizes = [
            f"constexpr std::size_t kBatchSize = {model.batch_size};",
            f"constexpr std::size_t kNumInputs = {len(model.inputs)};",
            f"constexpr std::size_t kNumOutputs = {len(model.outputs)};",
            "inline constexpr std::size_t kInputSizes[] = {" + ", ".join(str(i.size) for i in model.inputs) + "};",
            "inline constexpr std::size_t kOutputSizes[] = {" + ", ".join(str(o.size) for o in model.outputs) + "};",
            f"constexpr std::size_t kInputSize = {model.inputs[0].size if model.inputs else 0};",
            f"constexpr std::size_t kOutputSize = {model.outputs[0].size};",
        ]
    session = CppWriter()
    session("/// One inference context. Not thread-safe: use one Session per thread (weights are shared).")
    with session.block("class Session", tail=";"):
        session.access("public")
        session(*ctor)
        if dynamic:
            session(
                "/// Computes the outputs of `batch` samples (any number; 0 does nothing), each buffer holding",
                "/// them back to back; never allocates. Buffers must not overlap.",
                f"void infer(std::size_t batch, {_signature(model, layout)});",
                "/// The same as infer(n, ...) (the name headers with a fixed batch use).",
            )
            with session.block(f"void infer_many(std::size_t n, {_signature(model, layout)})"):
                session(f"infer(n, {', '.join([*layout.input_params, *layout.output_params])});")
        else:
            session(
                "/// Computes the outputs; never allocates. Buffers must not overlap.",
                f"void infer({_signature(model, layout)});",
            )
        if convenience:
            session(
                "/// Convenience overload returning freshly allocated output vectors.",
                f"{ret_type} infer({batch_param}{in_params});",
            )
        else:
            session.comment(
                f"(no overload returning vectors: a std::tuple of {len(model.outputs)} outputs is more than "
                f"the {MAX_TUPLE_OUTPUTS} compilers handle well)"
            )
        if many:
            session(*many[0])
        session("")
        session.access("private")
        if members:
            session(*members)
        else:
            session.comment("(no scratch memory needed)")
    parts = [
        f"// Generated by rmodel {__version__} from {quoted(model.name)} -- do not edit.",
        f"// {model.describe_batch()}; {len(model.operators)} operators; "
        f"{model.parameter_count()} parameters; {model.flops()} FLOPs per inference"
        + (f" of {top} samples." if dynamic else "."),
        "// Inputs:\n" + ins,
        "// Outputs:\n" + outs,
        "#pragma once\n",
        "\n".join(
            f"#include <{h}>"
            for h in [
                "algorithm",
                "cmath",
                "cstddef",
                "cstdint",
                "cstring",
                "limits",
                "tuple",
                "type_traits",
                "utility",
                "vector",
            ]
            + (["memory"] if any(is_bool) else [])
            + (["fstream", "stdexcept", "string"] if file_mode else [])
        ),
        f"\nnamespace {layout.namespace} {{\n",
        *sample_sizes,
        "inline constexpr const char* kInputNames[] = {" + ", ".join(cpp_string(i.name) for i in model.inputs) + "};"
        if model.inputs
        else "",
        "inline constexpr const char* kOutputNames[] = {" + ", ".join(cpp_string(o.name) for o in model.outputs) + "};",
        shapes,
        "\nnamespace detail {\n",
        helpers,  # first-use order: register what a helper calls first
        "\n\n".join(weight_defs),
        "\n}  // namespace detail\n",
        session.text(),
        "",
    ]
    code = CppWriter()  # the definitions of Session's functions
    if file_mode:
        _weight_loader(code, weight_count)
    code.extend(definitions)
    if convenience:
        with code.block(f"inline {ret_type} Session::infer({batch_param}{in_params})"):
            code(*out_vectors)
            code(f"infer({', '.join(a for a in (batch_param and 'batch', in_args, out_args) if a)});")
            code(f"return {ret_expr};")
        code("")
    if many:
        code.extend(many[2])
        code("")
    parts += [code.text(), f"}}  // namespace {layout.namespace}", ""]
    return "\n".join(parts)


def _weight_loader(w: CppWriter, count: int) -> None:
    """The constructor that reads and checks the weight file of ``count`` floats, and a blank line."""
    magic = WEIGHT_FILE_MAGIC.decode()
    where = "'\" + weights_path + \"'"
    with w.block(f"inline Session::Session(const std::string& weights_path) : weights_({count})"):
        w("std::ifstream file(weights_path, std::ios::binary);")
        w('if (!file) throw std::runtime_error("rmodel: cannot open weight file ' + where + '");')
        w("char magic[8];")
        w("std::uint64_t count = 0, checksum = 0;")
        w("file.read(magic, 8);")
        w("file.read(reinterpret_cast<char*>(&count), sizeof count);")
        w("file.read(reinterpret_cast<char*>(&checksum), sizeof checksum);")
        w(
            f'if (!file || std::memcmp(magic, "{magic}", 8) != 0)\n'
            '  throw std::runtime_error("rmodel: ' + where + ' is not an rmodel weight file");'
        )
        w(
            f"if (count != {count})\n"
            '  throw std::runtime_error("rmodel: weight file ' + where + ' holds " + std::to_string(count) +\n'
            f'                           " values, this header expects {count}: regenerate both together");'
        )
        w(
            f"file.read(reinterpret_cast<char*>(weights_.data()), static_cast<std::streamsize>({count} * sizeof(float)));"
        )
        w('if (!file) throw std::runtime_error("rmodel: weight file ' + where + ' is truncated");')
        w("std::uint64_t h = 0;")
        with w.loop("i", count):
            w("std::uint32_t word;")
            w("std::memcpy(&word, &weights_[i], sizeof word);")
            w("h += (static_cast<std::uint64_t>(word) + 1) * (2 * static_cast<std::uint64_t>(i) + 1);")
        w(
            "if (h != checksum)\n"
            '  throw std::runtime_error("rmodel: weight file ' + where + ' is corrupt (checksum mismatch)");'
        )
    w("")
