import contextlib
import os
import sys
from pathlib import Path

# make tests/helpers.py importable as `helpers` from every test module
sys.path.insert(0, str(Path(__file__).parent))

# torchvision before TensorFlow: with TensorFlow (or Keras on it) loaded first, `import
# torchvision` crashes the process (a segmentation fault; torchvision 0.29 with tensorflow 2.21),
# the other order works. The torchvision tests share their workers with the Keras ones.
if not os.environ.get("RMODEL_TEST_SANITIZE"):  # (the sanitizer runs test C++ operators only)
    with contextlib.suppress(ImportError):
        import torchvision.models  # noqa: F401


#: test modules whose tests take minutes: started first, so that under pytest-xdist no worker is
#: left alone with one of them at the end of the run
LONG_FIRST = ("test_sanitizers.py", "test_quickstart.py", "test_keras_applications.py", "test_torchvision.py")


def pytest_collection_modifyitems(items: list) -> None:
    rank = {name: k for k, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FIRST)))  # stable: file order otherwise
