"""Execute the tutorials in place, so that they are committed with their outputs.

``python -m benchmark tutorials`` (``tox -e tutorials``) runs each notebook under ``tutorials/``
with papermill at the parameters it is published with (:data:`PUBLISHED`: real data at ``small``
where the caches it needs exist or build in minutes, the synthetic world at ``smoke`` where a
``small`` run would train baselines for hours) and writes the executed notebook over the committed
one only when every cell ran without an error; a failed run leaves the committed notebook as it
was and keeps the failed one beside it for reading. A tutorial whose slow prerequisite is missing
(:mod:`dppmg.generation.prerequisites`) is not started: the message names the command that builds
it. The test suite executes the same notebooks at ``smoke`` into a scratch folder, never here.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

from dppmg.errors import DPPMGError
from dppmg.generation.prerequisites import MissingPrerequisite, require_image_backbone

TUTORIAL_DIR = Path(__file__).resolve().parent.parent / "tutorials"

# The parameters each tutorial is committed with (its parameters cell keeps the smoke defaults a
# reader can run in a minute).
PUBLISHED: dict[str, dict[str, Any]] = {
    "01_data_and_features.ipynb": {"dataset": "movielens", "preset": "small"},
    "02_preferences_and_tokens.ipynb": {"dataset": "movielens", "preset": "small"},
    "03_generation_and_reward.ipynb": {"dataset": "movielens", "preset": "small", "users": 16},
    "04_compare_your_method.ipynb": {"dataset": "synthetic", "preset": "smoke"},
    "05_human_study.ipynb": {"dataset": "synthetic", "preset": "smoke"},
}


def _needs_backbone(parameters: dict[str, Any]) -> None:
    require_image_backbone(parameters["dataset"], parameters["preset"], parameters.get("data_root"))


PREREQUISITES: dict[str, tuple[Callable[[dict[str, Any]], None], ...]] = {
    "03_generation_and_reward.ipynb": (_needs_backbone,),
}


# A tqdm bar as text: "<desc>: 40%|████ | 60/150 [00:32<00:49, ...]" (or blank refreshes).
_PROGRESS_LINE = re.compile(r"^\s*$|^[^|\n]*\d+%\|.*\|")
_WIDGET = "application/vnd.jupyter.widget-view+json"


def _is_progress(output: dict[str, Any]) -> bool:
    if output.get("output_type") == "display_data" and _WIDGET in output.get("data", {}):
        return True
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        return all(_PROGRESS_LINE.match(line) for line in re.split(r"[\r\n]", output.get("text", "")))
    return False


def strip_progress(nb) -> int:
    """Drop the progress bars from ``nb``'s outputs (they say nothing once the run is over) and join
    the stream outputs that were split around them; returns how many outputs were dropped."""
    import nbformat

    dropped = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if _is_progress(output):
                dropped += 1
            elif (kept and output.output_type == "stream" and kept[-1].output_type == "stream"
                  and kept[-1].name == output.name):
                kept[-1] = nbformat.v4.new_output("stream", name=output.name, text=kept[-1].text + output.text)
            else:
                kept.append(output)
        cell.outputs = kept
    return dropped


def drop_machine_paths(nb) -> None:
    """Drop papermill's record of where the notebook was read and written: absolute paths of the
    machine that ran it, meaningless to a reader and a diff on every run."""
    record = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        record.pop(key, None)


def execute_tutorial(path: Path, parameters: dict[str, Any], out: Path, cwd: Path) -> list[str]:
    """Execute ``path`` with ``parameters`` into ``out`` (progress bars dropped); returns the error
    outputs' names (empty: clean)."""
    import nbformat
    import papermill

    from benchmark.kernels import IPCKernelManager

    papermill.execute_notebook(str(path), str(out), parameters=parameters, kernel_name="python3",
                               progress_bar=False, cwd=str(cwd), kernel_manager_class=IPCKernelManager)
    nb = nbformat.read(out, as_version=4)
    strip_progress(nb)
    drop_machine_paths(nb)
    nbformat.write(nb, out)
    return [o.get("ename", "error") for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.output_type == "error"]


def publish(names: list[str] | None = None, overrides: dict[str, Any] | None = None,
            tutorial_dir: Path = TUTORIAL_DIR, published: dict[str, dict[str, Any]] = PUBLISHED,
            prerequisites: dict[str, tuple[Callable[[dict[str, Any]], None], ...]] = PREREQUISITES) -> dict[str, str]:
    """Execute the named tutorials (default: all of ``published``) in ``tutorial_dir``, in place;
    returns each one's outcome."""
    import papermill


    outcomes: dict[str, str] = {}
    for name in names or sorted(published):
        path = tutorial_dir / name
        if name not in published or not path.is_file():
            raise DPPMGError(f"no tutorial {name!r} in {tutorial_dir}; expected some of {', '.join(sorted(published))}")
        parameters = {**published[name], **(overrides or {})}
        try:
            for check in prerequisites.get(name, ()):
                check(parameters)
        except MissingPrerequisite as exc:
            outcomes[name] = f"not run: {exc}"
            continue
        failed = tutorial_dir / ".executed" / name
        failed.parent.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        try:
            errors = execute_tutorial(path, parameters, failed, cwd=failed.parent)
        except papermill.PapermillExecutionError as exc:
            errors = [exc.ename]
        seconds = time.perf_counter() - t0
        if errors:
            outcomes[name] = f"FAILED ({', '.join(errors)}) after {seconds:.0f} s; read {failed}; {path} unchanged"
            continue
        os.replace(failed, path)
        outcomes[name] = f"executed at {parameters['dataset']}/{parameters['preset']} in {seconds:.0f} s"
    return outcomes


def add_parser(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("tutorials", help="execute the tutorials in place, with their outputs (tox -e tutorials)")
    cmd.add_argument("names", nargs="*", help=f"tutorial file names (default: all of {', '.join(sorted(PUBLISHED))})")
    cmd.add_argument("--data-root", default=None, help="default $DPPMG_DATA_DIR")


def main(args: argparse.Namespace) -> int:
    overrides = {"data_root": args.data_root} if args.data_root else None
    outcomes = publish(args.names or None, overrides)
    for name, outcome in outcomes.items():
        print(f"{name}: {outcome}")
    return 1 if any(o.startswith("FAILED") for o in outcomes.values()) else 0
