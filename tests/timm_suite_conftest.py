"""Root conftest for timm's own ``tests/test_models.py`` run against ecalib's models.

``tests/test_timm_suite.py`` copies this file as ``conftest.py`` into the root of timm's unpacked source
release, beside its unedited ``tests/``. It only narrows the model lists, nothing else:

* ``timm.list_models`` / ``timm.list_pretrained`` (read by test_models.py when it is imported, to
  parametrize its tests) return only the ecalib models named in ``ECALIB_TIMM_SUITE_MODELS``
  (comma-separated timm names; all of ecalib's when unset), out of what timm's own filters return;
* where a test lists the model families that have ``forward_intermediates`` (a list of modules,
  test_models.py's ``FEAT_INTER_FILTERS``), ecalib's module is one of them;
* tests parametrized over anything but those names (fixed lists of timm's models) are deselected.
"""

import os
from pathlib import Path

import timm

import ecalib  # noqa: F401  (registers ecalib's models in timm)
from ecalib.models.registry import TIMM_MODULE

if Path(timm.__file__).resolve().is_relative_to(Path(__file__).resolve().parent):
    raise RuntimeError(f"the source release's timm was imported ({timm.__file__}); run pytest --import-mode=importlib")

_list_models, _list_pretrained = timm.list_models, timm.list_pretrained
_ours = set(_list_models(module=TIMM_MODULE))
_wanted = os.environ.get("ECALIB_TIMM_SUITE_MODELS")
SELECTED = set(_wanted.split(",")) if _wanted else _ours
if not SELECTED <= _ours:
    raise RuntimeError(f"not ecalib models in timm's registry: {sorted(SELECTED - _ours)}")


def _selected(names):
    return [n for n in names if n.split(".")[0] in SELECTED]


def list_models(filter="", module="", *args, **kwargs):
    if isinstance(module, (list, tuple)) and module:  # a list of families: add ecalib's
        module = [*module, TIMM_MODULE]
    return _selected(_list_models(filter, module, *args, **kwargs))


def list_pretrained(*args, **kwargs):
    return _selected(_list_pretrained(*args, **kwargs))


timm.list_models, timm.list_pretrained = list_models, list_pretrained


def pytest_collection_modifyitems(config, items):
    def ours(item):
        return hasattr(item, "callspec") and item.callspec.params.get("model_name") in SELECTED

    dropped = [i for i in items if not ours(i)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if ours(i)]


def pytest_report_header(config):
    return f"ecalib models ({len(SELECTED)}): {', '.join(sorted(SELECTED))}; timm {timm.__version__} at {timm.__file__}"
