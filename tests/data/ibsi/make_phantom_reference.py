"""Regenerate ``mpirad/radiomics/data/ibsi/phantom_reference.csv`` from the IBSI manual.

Usage: ``python make_phantom_reference.py 03_Image_features.rst > phantom_reference.csv``
(the rst file of github.com/theibsi/ibsi-doc, commit b952e71e9d40569e8a9ff3c740bc389c04dd6c28).
"""

from __future__ import annotations

import re
import sys

import pandas as pd

from mpirad.radiomics.ibsi import FAMILIES, FEATURE_DEFINITIONS

#: Heading without an identifier in the rst source (from the manual PDF and mirp).
MISSING_CODES = {("9SAK", "Small zone emphasis"): "5QRC"}

IVH_NAMES = {
    "volume fraction at 10% intensity": "v10",
    "volume fraction at 90% intensity": "v90",
    "intensity at 10% volume": "i10",
    "intensity at 90% volume": "i90",
    "volume fraction difference between 10% and 90% intensity": "diff_v10_v90",
    "intensity difference between 10% and 90% volume": "diff_i10_i90",
}
AGGREGATIONS = {
    "2D, averaged": "2D averaged (BTW3)",
    "2D, slice-merged": "2D slice-merged (SUJT)",
    "2.5D, direction-merged": "2.5D direction-merged (JJUI)",
    "2.5D, merged": "2.5D merged (ZW7Z)",
    "3D, averaged": "3D averaged (ITBB)",
    "3D, merged": "3D merged (IAZD)",
}
ZONE_AGGREGATIONS = {"2D": "2D (8QNN)", "2.5D": "2.5D (62GR)", "3D": "3D (KOBO)"}


def parse_number(text: str) -> float | None:
    """A table cell: plain number, ``:math:`a \\times 10^{b}``` or ``—`` (None)."""
    text = text.strip().replace(":math:`-`\\ ", "-")
    if text in ("—", "-", ""):
        return None
    match = re.fullmatch(r":math:`\s*(-?[0-9.]+)\s*\\times\s*10\^\{(-?[0-9]+)\}\s*`", text)
    if match:
        return float(match.group(1)) * 10 ** int(match.group(2))
    return float(text.replace("−", "-").replace(",", ""))


def parse_manual(lines: list[str]) -> list[dict]:
    """Rows labelled "dig. phantom", with their family, feature heading and identifier."""
    rows: list[dict] = []
    family_code = feature = feature_code = caption = None
    pending = None
    for index, line in enumerate(lines):
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if line.strip() and following and set(following) == {"-"}:
            pending = ("family", line.strip())
            continue
        if line.strip() and following and set(following) == {"^"}:
            pending = ("feature", line.strip())
            feature, feature_code, caption = (
                line.strip(),
                MISSING_CODES.get((family_code, line.strip())),
                None,
            )
            continue
        code = re.search(r'text-align:right">([0-9A-Z]{4})</p>', line)
        if code and pending:
            if pending[0] == "family":
                family_code, feature, feature_code = code.group(1), None, None
            else:
                feature_code = code.group(1)
            pending = None
            continue
        table = re.match(r"\.\. table:: Reference values for the \*(.+?)\* feature", line.strip())
        if table:
            caption = table.group(1)
            continue
        if line.strip().startswith("| dig. phantom") and feature:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            aggregation, value, tolerance, consensus = (
                cells[1:] if len(cells) == 5 else ("", *cells[1:])
            )
            rows.append(
                {
                    "family_code": family_code,
                    "feature": feature,
                    "code": feature_code,
                    "caption": caption or "",
                    "aggregation": aggregation,
                    "value": parse_number(value),
                    "tolerance": parse_number(tolerance) or 0.0,
                    "consensus": consensus,
                }
            )
    return rows


def to_mpirad(rows: list[dict]) -> pd.DataFrame:
    """Map manual rows to mpirad features (family, name, aggregation)."""
    family_by_code = {info.ibsi_code: family for family, info in FAMILIES.items()}
    by_code = {code: (family, name) for family, name, code, _ in FEATURE_DEFINITIONS}
    code_of = {(family, name): code for family, name, code, _ in FEATURE_DEFINITIONS}
    out = []
    for row in rows:
        family = family_by_code[row["family_code"]]
        if family == "ivh":
            name = IVH_NAMES[row["caption"]]
        elif family == "ih" and row["feature"].startswith("10\\ :sup:"):
            name = "p10"  # tagged 1PR8 in the rst source
        elif family == "ih" and row["feature"].startswith("90\\ :sup:"):
            name = "p90"  # tagged GPMT in the rst source
        elif row["code"] == "P6QZ":
            name = "sum_entr"
        else:
            mapped_family, name = by_code[row["code"]]
            assert mapped_family == family, row
        if family in ("cm", "rlm"):
            aggregation = AGGREGATIONS[row["aggregation"]]
        elif family in ("szm", "dzm", "ngt", "ngl"):
            aggregation = ZONE_AGGREGATIONS[row["aggregation"]]
        else:
            aggregation = "3D (DHQ4)"
        heading = row["feature"].replace("\\ :sup:`th`", "th")
        out.append(
            {
                "family": family,
                "name": name,
                "ibsi_code": code_of[(family, name)],
                "aggregation": aggregation,
                "reference": row["value"],
                "tolerance": row["tolerance"],
                "consensus": row["consensus"],
                "manual_feature": heading + (f" ({row['caption']})" if row["caption"] else ""),
            }
        )
    table = pd.DataFrame(out)
    duplicated = table.duplicated(["family", "name", "aggregation"])
    assert not duplicated.any(), table[duplicated]
    return table


def main(argv: list[str]) -> None:
    """Print the reference CSV for the rst file given as the only argument."""
    with open(argv[0], encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    to_mpirad(parse_manual(lines)).to_csv(sys.stdout, index=False)


if __name__ == "__main__":
    main(sys.argv[1:])
