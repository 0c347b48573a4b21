"""The slow prerequisite of every generation at ``small`` and ``paper``: a trained image backbone.

Stage 2 and Stage 3 train in minutes once a dataset's image backbone exists; the backbone itself
trains for tens of minutes per real dataset at ``small`` on two cores (hours at ``paper``). A
tutorial or a command that would otherwise start that training as a side effect checks here first
and, when the backbone is unfinished, names the command that builds it (resumably) instead.
"""

from __future__ import annotations

import json
import os

from dppmg.errors import DPPMGError


class MissingPrerequisite(DPPMGError):
    """A slow cache entry is missing; the message names the command that builds it.

    In Jupyter it shows as its message alone (IPython's ``_render_traceback_`` protocol): the
    reader needs the command, not a traceback.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def image_backbone_progress(dataset: str, preset: str, data_root: str | os.PathLike | None = None,
                            cache_dir: str | os.PathLike | None = None) -> tuple[int, int]:
    """(steps done, steps configured) of ``dataset``'s image backbone at ``preset`` in the cache."""
    from dppmg.config import image_backbone_config
    from dppmg.data import load_dataset
    from dppmg.generation.image_backbone import backbone_dir

    config = image_backbone_config(preset, dataset)
    data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
    saved = backbone_dir(data, config, cache_dir) / "config.json"
    done = json.loads(saved.read_text()).get("step", 0) if saved.is_file() else 0
    return int(done), config.train_steps


def require_image_backbone(dataset: str, preset: str, data_root: str | os.PathLike | None = None,
                           cache_dir: str | os.PathLike | None = None) -> None:
    """Raise :class:`MissingPrerequisite` where ``dataset``'s image backbone at ``preset`` is
    unfinished (``smoke`` never: its backbone trains in seconds)."""
    if preset == "smoke":
        return
    done, total = image_backbone_progress(dataset, preset, data_root, cache_dir)
    if done < total:
        raise MissingPrerequisite(
            f"the {dataset} image backbone at preset {preset} has {done} of its {total} training steps "
            f"in the cache; build it first with `dppmg backbone --dataset {dataset} --preset {preset}` "
            "(resumable; about 1-2 s a step on two cores), then run this again")
