"""`python -m benchmark tutorials`: executed in place only when clean, never started without its
slow prerequisite (benchmark.tutorials, dppmg.generation.prerequisites)."""

import nbformat
import pytest

from benchmark.tutorials import PUBLISHED, TUTORIAL_DIR, publish
from dppmg.errors import DPPMGError
from dppmg.generation.prerequisites import MissingPrerequisite, require_image_backbone


def _notebook(path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('dataset = "synthetic"\npreset = "smoke"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_a_clean_run_is_written_in_place_with_its_outputs(tmp_path):
    _notebook(tmp_path / "ok.ipynb", 'print(f"dataset {dataset}, preset {preset}")')
    outcome = publish(None, tutorial_dir=tmp_path, published={"ok.ipynb": {"dataset": "movielens", "preset": "small"}},
                      prerequisites={})
    assert outcome["ok.ipynb"].startswith("executed at movielens/small")
    nb = nbformat.read(tmp_path / "ok.ipynb", as_version=4)
    printed = [o["text"] for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stdout"]
    assert printed == ["dataset movielens, preset small\n"]
    assert nb.metadata["papermill"]["parameters"] == {"dataset": "movielens", "preset": "small"}
    assert not {"input_path", "output_path"} & set(nb.metadata["papermill"]), "machine paths in a published notebook"


def test_a_failed_run_leaves_the_committed_notebook_as_it_was(tmp_path):
    _notebook(tmp_path / "bad.ipynb", "raise ValueError('no')")
    before = (tmp_path / "bad.ipynb").read_bytes()
    outcome = publish(None, tutorial_dir=tmp_path, published={"bad.ipynb": {}}, prerequisites={})
    assert outcome["bad.ipynb"].startswith("FAILED (ValueError)")
    assert (tmp_path / "bad.ipynb").read_bytes() == before
    assert (tmp_path / ".executed" / "bad.ipynb").is_file()


def test_a_missing_prerequisite_names_its_command_and_runs_nothing(tmp_path):
    _notebook(tmp_path / "gen.ipynb", "1")
    before = (tmp_path / "gen.ipynb").read_bytes()

    def needs(parameters):
        raise MissingPrerequisite("build it first with `dppmg backbone --dataset movielens --preset small`")

    outcome = publish(None, tutorial_dir=tmp_path, published={"gen.ipynb": {}}, prerequisites={"gen.ipynb": (needs,)})
    assert outcome["gen.ipynb"].startswith("not run:") and "dppmg backbone" in outcome["gen.ipynb"]
    assert (tmp_path / "gen.ipynb").read_bytes() == before
    assert not (tmp_path / ".executed").exists()


def test_an_unknown_tutorial_is_named(tmp_path):
    with pytest.raises(DPPMGError, match="no tutorial 'nope.ipynb'"):
        publish(["nope.ipynb"], tutorial_dir=tmp_path, published={}, prerequisites={})


def test_every_tutorial_is_published_with_parameters():
    assert sorted(PUBLISHED) == sorted(p.name for p in TUTORIAL_DIR.glob("*.ipynb"))


def test_an_untrained_backbone_names_the_command(tmp_path):
    with pytest.raises(MissingPrerequisite, match=r"0 of its \d+ training steps.*`dppmg backbone --dataset synthetic "
                                                  r"--preset small`") as caught:
        require_image_backbone("synthetic", "small", cache_dir=tmp_path)
    # In Jupyter: the message alone, no traceback.
    assert caught.value._render_traceback_() == [f"MissingPrerequisite: {caught.value}"]
    require_image_backbone("synthetic", "smoke", cache_dir=tmp_path)  # trains in seconds: never required


def test_progress_bars_are_dropped_and_split_streams_joined():
    from benchmark.tutorials import strip_progress

    cell = nbformat.v4.new_code_cell("1")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="dataset movielens\n"),
        nbformat.v4.new_output("stream", name="stderr", text="preference:   1%|▏  | 2/150 [00:01<01:20, loss=0.7]\r"),
        nbformat.v4.new_output("stream", name="stderr", text="\n"),
        nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                                                     "text/plain": "HBox()"}),
        nbformat.v4.new_output("stream", name="stdout", text="recall 0.2\n"),
        nbformat.v4.new_output("stream", name="stderr", text="UserWarning: a real warning\n"),
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell]
    assert strip_progress(nb) == 3
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [
        ("stdout", "dataset movielens\nrecall 0.2\n"), ("stderr", "UserWarning: a real warning\n")]
