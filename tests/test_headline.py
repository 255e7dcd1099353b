"""The README headline table is generated from collected results."""

import json

import pandas as pd
import pytest

from mitolib.results.headline import END, START, headline_table, update_readme


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "cpu" / "seeds"
    folder.mkdir(parents=True)
    pd.DataFrame({
        "run_id": ["a", "b", "c", "d"],
        "architecture": ["unet", "unet", "attention_unet", "attention_unet"],
        "status": ["done", "done", "done", "failed"],
        "test_iou": [0.80, 0.84, 0.83, None],
        "test_dice": [0.88, 0.90, 0.9, None],
        "best_val_iou": [0.7, 0.8, 0.75, None],
        "train_seconds": [600, 660, 720, None],
    }).to_csv(folder / "runs.csv", index=False)
    (folder / "provenance.json").write_text(json.dumps({"git_commit": "abcdef0123456789",
                                                        "counts": {"planned": 9, "collected": 3}}))
    return tmp_path


def test_mean_and_spread_per_architecture(results):
    table = headline_table("cpu", results).set_index("architecture")
    assert list(table.index) == ["unet", "attention_unet"]  # study order, failed runs left out
    assert table.loc["unet", "seeds"] == 2
    assert table.loc["unet", "test IoU"] == "0.820 ± 0.028"  # mean 0.82, sample sd 0.0283
    assert table.loc["attention_unet", "test IoU"] == "0.830"  # one seed: no spread
    assert table.loc["unet", "training minutes"] == "10.5 ± 0.7"


def test_readme_block_is_replaced_between_the_markers(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{START}\nPLACEHOLDER\n{END}\n\nrest\n")
    assert update_readme(readme, "cpu", results)
    text = readme.read_text()
    assert text.startswith("# Title\n\n" + START)
    assert text.endswith(END + "\n\nrest\n")
    assert "Partial: 3 of 9 planned runs collected so far." in text
    assert "over the whole test volume at full resolution" in text  # no per-slice table to count
    pd.DataFrame({"run_id": ["a"] * 4 + ["b"] * 4 + ["c"] * 4, "slice": list(range(4)) * 3}).to_csv(
        results / "cpu" / "seeds" / "test_slices.csv", index=False)
    update_readme(readme, "cpu", results)
    text = readme.read_text()
    assert "over the whole 4-slice test volume" in text
    assert "PLACEHOLDER" not in text and "| unet | 2 | 0.820 ± 0.028 |" in text and "`abcdef012345`" in text
    once = readme.read_text()
    update_readme(readme, "cpu", results)
    assert readme.read_text() == once


def test_readme_without_markers_is_left_alone(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")
    assert not update_readme(readme, "cpu", results)
    assert readme.read_text() == "# Title\n"


def test_the_protocol_is_read_from_the_runs():
    import pandas as pd

    from mitolib.results.headline import protocol_label

    plain = pd.DataFrame({"threshold": [0.5, 0.5], "tune_threshold": [False, False], "z_median": [1, 1]})
    assert protocol_label(plain) == "threshold 0.5, no post-processing"
    tuned = pd.DataFrame({"threshold": [0.5], "tune_threshold": ["True"], "z_median": [5], "tta": [True]})
    assert protocol_label(tuned) == ("threshold chosen on the validation slices, 8-fold TTA, median over 5 slices "
                                    "of the probabilities")
    older = pd.DataFrame({"threshold": [0.5]})  # a table from before the test-time settings existed
    assert protocol_label(older) == "threshold 0.5, no post-processing"


def test_long_training_has_its_own_block_and_leaves_the_seeds_block_alone(results, tmp_path):
    from mitolib.results.headline import markers

    folder = results / "cpu_long" / "long_training"
    folder.mkdir(parents=True)
    pd.DataFrame({
        "run_id": ["long_seed-0", "long_seed-1"], "architecture": ["unet", "unet"], "status": ["done", "done"],
        "test_iou": [0.86, 0.88], "test_dice": [0.92, 0.94], "best_val_iou": [0.87, 0.87],
        "train_seconds": [1320, 1500], "threshold": [0.5, 0.5], "tune_threshold": [True, True], "z_median": [5, 5],
        "tta": [True, True],
    }).to_csv(folder / "runs.csv", index=False)
    (folder / "provenance.json").write_text(json.dumps({"git_commit": "0123456789abcdef",
                                                        "counts": {"planned": 2, "collected": 2}}))
    start, end = markers("long_training")
    assert (start, end) == ("<!-- headline:long_training:start -->", "<!-- headline:long_training:end -->")
    readme = tmp_path / "README.md"
    readme.write_text(f"{START}\nSEEDS\n{END}\n\n{start}\nLONG\n{end}\n")
    assert update_readme(readme, "cpu_long", results, study="long_training")
    text = readme.read_text()
    assert "SEEDS" in text and "LONG" not in text  # only the study's own block changes
    assert "| unet | 2 | 0.870 ± 0.014 |" in text and "23.5 ± 2.1" in text  # 22 and 25 minutes
    assert "`mitolib study collect long_training --profile cpu_long --readme README.md`" in text
    assert "8-fold TTA, median over 5 slices" in text and "Partial" not in text
    assert update_readme(readme, "cpu", results)  # the seeds block is regenerated on its own
    assert "SEEDS" not in readme.read_text() and "| unet | 2 | 0.870 ± 0.014 |" in readme.read_text()


def test_a_study_without_a_headline_is_refused_by_name():
    from mitolib.results.headline import markers

    with pytest.raises(ValueError, match="no headline table for the study 'recipe'; the studies with one: seeds, "
                                         "long_training"):
        markers("recipe")


@pytest.mark.parametrize("study, profile", [("seeds", "cpu"), ("long_training", "cpu_long")])
def test_the_committed_readme_shows_what_the_committed_results_render_to(study, profile):
    """The README's headline blocks are regenerated, never edited: each equals its study's render."""
    from pathlib import Path

    from mitolib.results.headline import markers, render

    project = Path(__file__).resolve().parent.parent
    start, end = markers(study)
    block = (project / "README.md").read_text(encoding="utf-8").split(start, 1)[1].split(end, 1)[0]
    assert block == "\n" + render(profile, project / "results", study=study)
