"""The README headline table is generated from collected results."""

import json

import pandas as pd
import pytest

from mitolib.headline import END, START, headline_table, update_readme


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

    from mitolib.headline import protocol_text

    plain = pd.DataFrame({"threshold": [0.5, 0.5], "tune_threshold": [False, False], "z_median": [1, 1]})
    assert protocol_text(plain) == "threshold 0.5, no post-processing"
    tuned = pd.DataFrame({"threshold": [0.5], "tune_threshold": ["True"], "z_median": [5], "tta": [True]})
    assert protocol_text(tuned) == ("threshold chosen on the validation slices, 8-fold TTA, median over 5 slices "
                                    "of the probabilities")
    older = pd.DataFrame({"threshold": [0.5]})  # a table from before the test-time settings existed
    assert protocol_text(older) == "threshold 0.5, no post-processing"
