// The fixed part of the pybind11 module that emitters/cpu/bindings.py writes for a generated header:
// make_runner(weights_path) returns `run(*inputs)`, a METH_FASTCALL function on numpy's C API (a few
// hundred ns per call) that takes the inputs positionally, as one list/tuple, as a dict or as keywords,
// converts dtypes and checks shapes with a clear ValueError.
//
// The generated module defines, before the region and in the same anonymous namespace: Session, kIn,
// kOut, kMany, kBatchSize, the input/output tables, new_session() and infer() (as the stand-in model
// below does), and after it PYBIND11_MODULE registering make_runner.
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#include <pybind11/pybind11.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <cstddef>
#include <sstream>
#include <string>

namespace py = pybind11;

namespace {

// ---- a stand-in for the per-model part: one float32 input of shape (2, 3) and one float32 output
// of shape (2, 1) holding each row's sum, any number of samples along the first axis
struct Session {
  void infer_many(std::size_t n, const float* x, float* y) {
    for (std::size_t i = 0; i < n; ++i) y[i] = x[3 * i] + x[3 * i + 1] + x[3 * i + 2];
  }
};
constexpr Py_ssize_t kIn = 1;
constexpr Py_ssize_t kOut = 1;
constexpr bool kMany = true;
constexpr npy_intp kBatchSize = 2;
const char* const kInputNames[] = {"x"};
const int kInputTypes[] = {NPY_FLOAT32};
const int kInputRanks[] = {2};
const npy_intp kInputShape0[] = {2, 3};
const npy_intp* const kInputShapes[] = {kInputShape0};
const int kOutputTypes[] = {NPY_FLOAT32};
const int kOutputRanks[] = {2};
const npy_intp kOutputShape0[] = {2, 1};
const npy_intp* const kOutputShapes[] = {kOutputShape0};

Session* new_session(const py::object&) {
  return new Session();
}

void infer(Session* session, npy_intp count, PyArrayObject* const* arrays, PyObject* const* outs) {
  session->infer_many(static_cast<std::size_t>(count), static_cast<const float*>(PyArray_DATA(arrays[0])),
                      static_cast<float*>(PyArray_DATA(reinterpret_cast<PyArrayObject*>(outs[0]))));
}

// rmodel:begin runner
constexpr const char* kCapsule = "rmodel.Session";
constexpr Py_ssize_t kInSlots = kIn > 0 ? kIn : 1;

std::string shape_text(const npy_intp* dims, int rank) {
  std::ostringstream text;
  text << "(";
  for (int i = 0; i < rank; ++i) text << (i ? ", " : "") << dims[i];
  text << (rank == 1 ? ",)" : ")");
  return text.str();
}

// New reference to a C-contiguous array of the input's dtype and shape, or nullptr with an error set.
// With kMany the first axis is the number of samples, the same for every input (``count``).
PyArrayObject* as_input(PyObject* obj, Py_ssize_t i, npy_intp* count) {
  auto* a = reinterpret_cast<PyArrayObject*>(
      PyArray_FROMANY(obj, kInputTypes[i], 0, 0, NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST));
  if (a == nullptr) return nullptr;
  bool same = PyArray_NDIM(a) == kInputRanks[i];
  for (int d = kMany ? 1 : 0; same && d < kInputRanks[i]; ++d) same = PyArray_DIM(a, d) == kInputShapes[i][d];
  if (!same) {
    std::string message =
        std::string("input '") + kInputNames[i] + "' has shape " + shape_text(PyArray_DIMS(a), PyArray_NDIM(a)) +
        " but the model was generated for shape " + shape_text(kInputShapes[i], kInputRanks[i]) +
        (kMany
             ? std::string(" (any number of samples on the first axis)")
             : " (batch size " + std::to_string(kBatchSize) + "); pass an array of that shape or regenerate the model");
    Py_DECREF(a);
    PyErr_SetString(PyExc_ValueError, message.c_str());
    return nullptr;
  }
  if (kMany) {
    if (*count >= 0 && PyArray_DIM(a, 0) != *count) {
      Py_DECREF(a);
      PyErr_SetString(PyExc_ValueError, "the inputs hold different numbers of samples (first axis)");
      return nullptr;
    }
    *count = PyArray_DIM(a, 0);
  }
  return a;
}

int take_by_name(PyObject* name, PyObject* value, PyObject** given) {
  const char* text = PyUnicode_AsUTF8(name);
  if (text == nullptr) return -1;
  for (Py_ssize_t i = 0; i < kIn; ++i) {
    if (std::string(text) == kInputNames[i]) {
      given[i] = value;
      return 0;
    }
  }
  PyErr_Format(PyExc_TypeError, "the model has no input named '%s'", text);
  return -1;
}

PyObject* run(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  auto* session = static_cast<Session*>(PyCapsule_GetPointer(self, kCapsule));
  if (session == nullptr) return nullptr;
  PyObject* given[kInSlots] = {};
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  if (nkw > 0) {
    if (nargs > 0) {
      PyErr_SetString(PyExc_TypeError, "give the inputs either positionally or by name, not both");
      return nullptr;
    }
    for (Py_ssize_t j = 0; j < nkw; ++j)
      if (take_by_name(PyTuple_GET_ITEM(kwnames, j), args[j], given) < 0) return nullptr;
  } else if (nargs == 1 && PyDict_Check(args[0])) {
    PyObject* key;
    PyObject* value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(args[0], &pos, &key, &value))
      if (take_by_name(key, value, given) < 0) return nullptr;
  } else if (nargs == 1 && kIn > 1 && (PyList_Check(args[0]) || PyTuple_Check(args[0])) &&
             PySequence_Fast_GET_SIZE(args[0]) == kIn) {
    for (Py_ssize_t i = 0; i < kIn; ++i) given[i] = PySequence_Fast_GET_ITEM(args[0], i);
  } else if (nargs == kIn) {
    for (Py_ssize_t i = 0; i < kIn; ++i) given[i] = args[i];
  } else {
    PyErr_Format(PyExc_TypeError, "the model takes %zd input(s), got %zd", kIn, nargs);
    return nullptr;
  }
  for (Py_ssize_t i = 0; i < kIn; ++i) {
    if (given[i] == nullptr) {
      PyErr_Format(PyExc_TypeError, "no value given for input '%s'", kInputNames[i]);
      return nullptr;
    }
  }
  PyArrayObject* arrays[kInSlots] = {};
  PyObject* outs[kOut] = {};
  PyObject* result = nullptr;
  bool ok = true;
  npy_intp count = -1;
  for (Py_ssize_t i = 0; ok && i < kIn; ++i) ok = (arrays[i] = as_input(given[i], i, &count)) != nullptr;
  for (Py_ssize_t k = 0; ok && k < kOut; ++k) {
    npy_intp dims[NPY_MAXDIMS];
    for (int d = 0; d < kOutputRanks[k]; ++d) dims[d] = kOutputShapes[k][d];
    if (kMany) dims[0] = count;
    ok = (outs[k] = PyArray_SimpleNew(kOutputRanks[k], dims, kOutputTypes[k])) != nullptr;
  }
  if (ok) {
    infer(session, count, arrays, outs);
    if (kOut == 1) {
      result = outs[0];
      outs[0] = nullptr;
    } else {
      result = PyTuple_New(kOut);
      for (Py_ssize_t k = 0; result != nullptr && k < kOut; ++k) {
        PyTuple_SET_ITEM(result, k, outs[k]);
        outs[k] = nullptr;
      }
    }
  }
  for (Py_ssize_t i = 0; i < kIn; ++i) Py_XDECREF(arrays[i]);
  for (Py_ssize_t k = 0; k < kOut; ++k) Py_XDECREF(outs[k]);
  return result;
}

PyMethodDef run_def = {"run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(run)),
                       METH_FASTCALL | METH_KEYWORDS, "Run the model: numpy arrays in, numpy array(s) out."};

// The `run` function bound to a new Session (which may read its weight file from weights_path).
py::object make_runner(py::object weights_path) {
  Session* session = new_session(weights_path);
  PyObject* capsule = PyCapsule_New(
      session, kCapsule, [](PyObject* c) { delete static_cast<Session*>(PyCapsule_GetPointer(c, kCapsule)); });
  if (capsule == nullptr) {
    delete session;
    throw py::error_already_set();
  }
  PyObject* function = PyCFunction_New(&run_def, capsule);
  Py_DECREF(capsule);
  if (function == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(function);
}
// rmodel:end runner

}  // namespace

PYBIND11_MODULE(pybind_runner, m) {
  if (_import_array() < 0) throw py::error_already_set();
  m.def("make_runner", &make_runner, py::arg("weights_path") = py::none());
}
