"""The one registry of methods: every list of method names (harness suites, tables, CLI choices)
is derived from it.

A method is a class (:mod:`dppmg.interface`) whose class attributes say what it is: ``name``,
``description``, ``kind`` (one of :data:`KINDS`), the harness ``suites`` it runs in (some of
:data:`SUITES`) and its ``order`` in the tables. It is registered in one of two ways:

* in-process, with the :func:`register_method` decorator (a notebook, a test);
* by a distribution, through an entry point of the ``dppmg.methods`` group, the standard Python
  plugin mechanism (as pytest and tox use). The suite's own methods, DPPMG and its variants
  (:mod:`dppmg.methods`) as well as the baselines, are registered this way in its
  ``pyproject.toml`` (so that no method module imports the registry and the registry imports no
  method); another package plugs in the same way, without editing this one::

      [project.entry-points."dppmg.methods"]
      my-method = "my_package.my_method:MyMethod"

Entry points are read the first time the registry is asked for its methods; :func:`refresh`
reads them again (after installing a package into a running process).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any

from dppmg.errors import ConfigError

KINDS = ("generation", "ranking", "ablation", "control", "reference")
# The harness suites a method can run in (benchmark/suites.py): the Stage 1 ranking table and the
# evaluation of generated items.
SUITES = ("preference", "evaluation")
ENTRY_POINT_GROUP = "dppmg.methods"


@dataclass(frozen=True)
class MethodSpec:
    """One registered method.

    Args:
        name: the name every command and table uses.
        cls: the method's class (instantiated fresh for every run).
        kind: one of :data:`KINDS`.
        description: one line for tables and ``--help``.
        suites: the harness suites it runs in.
        order: its position in the tables (ascending, then by name).
        source: ``"dppmg"``, ``"in-process"`` or ``"entry point <distribution>"``.
    """

    name: str
    cls: type
    kind: str
    description: str
    suites: tuple[str, ...]
    order: int
    source: str


_REGISTRY: dict[str, MethodSpec] = {}
_LOAD_ERRORS: dict[str, str] = {}
_loaded = False


def register_method(cls: type | None = None, *, source: str = "in-process") -> Any:
    """Register the method class ``cls`` from its class attributes (usable as a bare decorator).

    Raises a :class:`~dppmg.errors.ConfigError` naming the class for a missing name, an unknown
    kind or suite, a method that does not implement its kind's interface, or a name already
    registered by another class.
    """
    if cls is None:
        return lambda c: register_method(c, source=source)
    from dppmg.interface import GenerationMethod, Method

    where = f"{cls.__module__}.{cls.__qualname__}"
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise ConfigError(f"{where}: a method must subclass dppmg.interface.Method")
    name = cls.name
    if not isinstance(name, str) or not name or name != name.strip() or " " in name:
        raise ConfigError(f"{where}: method name must be a non-empty string without spaces, got {name!r}")
    if cls.kind not in KINDS:
        raise ConfigError(f"{where}: kind {cls.kind!r} is not one of {', '.join(KINDS)}")
    suites = tuple(cls.suites)
    unknown = [s for s in suites if s not in SUITES]
    if not suites or unknown:
        raise ConfigError(f"{where}: suites {suites} must be a non-empty subset of {', '.join(SUITES)}")
    if "evaluation" in suites and not issubclass(cls, GenerationMethod):
        raise ConfigError(f"{where}: a method in the evaluation suite must subclass GenerationMethod")
    if "preference" in suites and cls.preference is None and cls.quantize:
        raise ConfigError(f"{where}: quantize=True needs a trained preference model (preference is None)")
    spec = MethodSpec(name, cls, cls.kind, cls.description or "", suites, int(cls.order), source)
    existing = _REGISTRY.get(name)
    if existing is not None and existing.cls is not cls:
        raise ConfigError(f"method name {name!r} of {where} is already registered by "
                          f"{existing.cls.__module__}.{existing.cls.__qualname__} ({existing.source})")
    _REGISTRY[name] = spec
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    _load_entry_points()


# The suite's own methods are entry points too: an installation whose metadata predates one of
# them (an editable install not reinstalled since) is told how to record it.
OWN_METHODS = "dppmg.methods"
STALE_INSTALL = ("this installation's dppmg.methods entry points name none of the suite's own methods "
                 f"({OWN_METHODS}): its metadata predates them; run `pip install -e .` in the checkout again")


def _load_entry_points() -> None:
    entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    if any(ep.value.startswith(f"{OWN_METHODS}:") for ep in entry_points):
        _LOAD_ERRORS.pop(OWN_METHODS, None)
    else:
        _LOAD_ERRORS[OWN_METHODS] = STALE_INSTALL
    for ep in entry_points:
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        try:
            cls = ep.load()
            if getattr(cls, "name", None) != ep.name:
                raise ConfigError(f"the entry point's name {ep.name!r} differs from the class's name "
                                  f"{getattr(cls, 'name', None)!r}")
            register_method(cls, source=f"entry point {dist}")
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the others down
            _LOAD_ERRORS[ep.name] = f"entry point {ep.name} = {ep.value} ({dist}) failed to load: {exc}"
        else:
            _LOAD_ERRORS.pop(ep.name, None)


def refresh() -> None:
    """Read the ``dppmg.methods`` entry points again (e.g. after a package was installed)."""
    _load()
    _load_entry_points()


def methods(kind: str | tuple[str, ...] | None = None, suite: str | None = None) -> list[MethodSpec]:
    """The registered methods, in table order; optionally only those of ``kind`` / in ``suite``."""
    _load()
    kinds = (kind,) if isinstance(kind, str) else kind
    specs = [s for s in _REGISTRY.values()
             if (kinds is None or s.kind in kinds) and (suite is None or suite in s.suites)]
    return sorted(specs, key=lambda s: (s.order, s.name))


def method_names(kind: str | tuple[str, ...] | None = None, suite: str | None = None) -> list[str]:
    return [s.name for s in methods(kind, suite)]


def get_spec(name: str, suite: str | None = None) -> MethodSpec:
    """The registered method ``name`` (in ``suite``, if given); a clear error otherwise."""
    _load()
    spec = _REGISTRY.get(name)
    if spec is None or (suite is not None and suite not in spec.suites):
        where = f" in suite {suite!r}" if suite else ""
        problem = _LOAD_ERRORS.get(name) or _LOAD_ERRORS.get(OWN_METHODS)
        hint = f"; {problem}" if problem else ""
        raise ConfigError(f"unknown method {name!r}{where}; registered: {', '.join(method_names(suite=suite))}{hint}")
    return spec


def resolve_stage1(dataset: str, preset: str, seed: int, method: str, **overrides: Any):
    """The Stage 1 config of the registered ranking method ``method`` (for entry points that hold
    a name: the CLI, the harness, notebooks); ``overrides``: ``preference`` / ``quantizer`` fields."""
    return get_spec(method, suite="preference").cls.stage1_config(dataset, preset, seed, **overrides)


def get_method(name: str):
    """A fresh instance of the registered generation method ``name``."""
    return get_spec(name, suite="evaluation").cls()
