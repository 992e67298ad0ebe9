"""C++ identifiers from arbitrary ONNX/Keras names."""

from __future__ import annotations

import re

CPP_KEYWORDS = frozenset(
    [
        "alignas",
        "alignof",
        "and",
        "and_eq",
        "asm",
        "auto",
        "bitand",
        "bitor",
        "bool",
        "break",
        "case",
        "catch",
        "char",
        "char16_t",
        "char32_t",
        "class",
        "compl",
        "const",
        "constexpr",
        "const_cast",
        "continue",
        "decltype",
        "default",
        "delete",
        "do",
        "double",
        "dynamic_cast",
        "else",
        "enum",
        "explicit",
        "export",
        "extern",
        "false",
        "float",
        "for",
        "friend",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "mutable",
        "namespace",
        "new",
        "noexcept",
        "not",
        "not_eq",
        "nullptr",
        "operator",
        "or",
        "or_eq",
        "private",
        "protected",
        "public",
        "register",
        "reinterpret_cast",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "static_assert",
        "static_cast",
        "struct",
        "switch",
        "template",
        "this",
        "thread_local",
        "throw",
        "true",
        "try",
        "typedef",
        "typeid",
        "typename",
        "union",
        "unsigned",
        "using",
        "virtual",
        "void",
        "volatile",
        "wchar_t",
        "while",
        "xor",
        "xor_eq",
        "std",
        "detail",
    ]
)


def identifier(name: str, prefix: str = "t") -> str:
    """A valid, readable C++ identifier for ``name`` (not guaranteed unique)."""
    text = re.sub(r"\W+", "_", name).strip("_") or prefix
    if text[0].isdigit():
        text = f"{prefix}_{text}"
    if text in CPP_KEYWORDS or text.startswith("__") or re.match(r"_[A-Z]", text):
        text = f"{prefix}_{text}"
    return text


class UniqueNames:
    """Hands out unique identifiers for names, stable for a given order of requests."""

    def __init__(self, reserved: set[str] | None = None):
        self._taken: set[str] = set(reserved or ())
        self._given: dict[str, str] = {}

    def __call__(self, name: str, prefix: str = "t") -> str:
        if name in self._given:
            return self._given[name]
        base = identifier(name, prefix)
        candidate, counter = base, 1
        while candidate in self._taken:
            counter += 1
            candidate = f"{base}_{counter}"
        self._taken.add(candidate)
        self._given[name] = candidate
        return candidate
