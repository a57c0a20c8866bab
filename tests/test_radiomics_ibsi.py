"""IBSI vocabulary: the 487-feature catalogue, identifiers and aggregation labels."""

from __future__ import annotations

import pytest

from mpirad.radiomics.ibsi import (
    AGG_3D_AVERAGED,
    FAMILIES,
    FEATURE_DEFINITIONS,
    aggregation_code,
    aggregation_label,
    feature_catalogue,
    feature_key,
    feature_label,
    ibsi_code,
)


def test_catalogue_has_the_ibsi_structure():
    catalogue = feature_catalogue()
    assert len(catalogue) == 487
    per_family = {f: sum(1 for d in FEATURE_DEFINITIONS if d[0] == f) for f in FAMILIES}
    # IBSI reference manual chapter 3 feature counts
    assert per_family == {
        "morph": 29, "loc": 2, "stat": 18, "ih": 23, "ivh": 7, "cm": 25,
        "rlm": 16, "szm": 16, "dzm": 16, "ngt": 5, "ngl": 17,
    }  # fmt: skip
    assert catalogue["dimension"].value_counts().to_dict() == {"3D": 215, "2D": 136, "2.5D": 136}
    assert catalogue["key"].is_unique
    assert not catalogue.duplicated(["family", "name", "aggregation"]).any()


def test_identifiers_are_four_characters_and_unique_per_feature():
    codes = [code for _, _, code, _ in FEATURE_DEFINITIONS]
    assert all(
        len(code) == 4 and code.isalnum() and code.isupper() or code.isdigit() for code in codes
    )
    assert len(set(codes)) == len(codes)
    assert ibsi_code("cm", "joint_max") == "GYBY"
    assert ibsi_code("szm", "sze") == "5QRC"
    assert ibsi_code("cm", "sum_entr") == "P6QZ"  # mirp's table has a typo (P6QZ1)
    with pytest.raises(KeyError, match="not an IBSI feature"):
        ibsi_code("cm", "mcc")


def test_aggregation_labels_and_keys():
    assert aggregation_label("3D averaged", "ITBB") == AGG_3D_AVERAGED == "3D averaged (ITBB)"
    assert aggregation_code(AGG_3D_AVERAGED) == "ITBB"
    with pytest.raises(ValueError, match="unknown IBSI aggregation"):
        aggregation_label("3D averaged", "IAZD")
    assert feature_key("cm", "joint_max", AGG_3D_AVERAGED) == "cm.joint_max [3D averaged]"
    assert feature_key("szm", "sze", "3D (KOBO)") == "szm.sze"
    assert feature_label("rlm", "sre") == "GLRLM short runs emphasis"
