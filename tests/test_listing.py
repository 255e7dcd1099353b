"""The listing demonstration: the function reports what os.listdir does here, checked against a direct call."""

import os

import pytest

from mitolib.report.listing import listing_agreement


def test_listing_agreement_matches_a_direct_comparison(tmp_path):
    result = listing_agreement(200, root=tmp_path)
    assert result["count"] == 200
    # Check the function's answer for identical names against the file system itself.
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    for k in range(200):
        (tmp_path / "a" / f"patch_{k:06d}.tif").write_bytes(b"")
    for k in reversed(range(200)):
        (tmp_path / "b" / f"patch_{k:06d}.tif").write_bytes(b"")
    assert result["same_names_agree"] == (os.listdir(tmp_path / "a") == os.listdir(tmp_path / "b"))


def test_differing_names_do_not_pair_by_position(tmp_path):
    result = listing_agreement(500, root=tmp_path)
    # img_k and mask_k hash differently: almost no position holds a matching pair (sorted listing would give 500).
    assert result["different_names_pairs"] < 50 or result["same_names_sorted"]


def test_listing_agreement_refuses_a_count_below_two():
    with pytest.raises(ValueError, match="at least 2"):
        listing_agreement(1)
