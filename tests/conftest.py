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
