from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mpirad.constants import ROI_NAMES
from mpirad.manifest import (
    ChecksumMismatch,
    ManifestError,
    get_dataset,
    load_manifest,
    tree_checksum,
)

REPO = Path(__file__).resolve().parents[1]


def _manifest(tmp_path, body):
    path = tmp_path / "data_manifest.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_repository_manifest_is_valid():
    datasets = load_manifest(REPO / "data_manifest.yaml")
    assert {"synthetic-a", "synthetic-b"} <= set(datasets)
    assert datasets["synthetic-a"].study == "a" and datasets["synthetic-b"].study == "b"
    assert datasets["synthetic-a"].root == REPO / "build" / "data" / "synthetic-a"
    # the synthetic cohort knows its pixel size: 160 mm field of view over 128 pixels
    assert datasets["synthetic-a"].pixel_spacing_mm == pytest.approx(160 / 128)
    assert datasets["synthetic-b"].pixel_spacing_mm is None


def test_commented_site_examples_are_valid_when_uncommented(tmp_path):
    # The site examples in the shipped manifest must validate once a user uncomments them.
    text = (REPO / "data_manifest.yaml").read_text()
    lines, in_examples = [], False
    for line in text.splitlines():
        in_examples = in_examples or line.startswith("#  site-a:")
        lines.append(line[1:] if in_examples and line.startswith("#  ") else line)
    path = tmp_path / "data_manifest.yaml"
    path.write_text("\n".join(lines))
    datasets = load_manifest(path)
    assert datasets["site-a"].provenance == "site" and datasets["site-b"].format == "volumes"
    from mpirad.io.layouts import VolumesLayout

    sera = VolumesLayout.of(datasets["site-b-sera"])  # the documented SERA mapping
    assert sera.image.variable == "vol_vals" and sera.spacing == (4.8, 4.8, 4.8)
    assert sorted(sera.masks) == sorted(ROI_NAMES) and sera.masks["myocardium"].variable == "total"


@pytest.mark.parametrize(
    "entry, needle",
    [
        (
            "study: c\n    format: volumes\n    root: x\n    provenance: site",
            "dataset 'bad', key 'study'",
        ),
        (
            "study: a\n    format: volumes\n    root: x\n    provenance: site",
            "dataset 'bad', key 'format'",
        ),
        ("study: a\n    format: labelme-export\n    provenance: site", "dataset 'bad', key 'root'"),
        (
            "study: a\n    format: labelme-export\n    root: x\n    provenance: cloud",
            "key 'provenance'",
        ),
        (
            "study: a\n    format: labelme-export\n    root: x\n    provenance: site\n    checksum: md5:00",
            "key 'checksum'",
        ),
        (
            "study: a\n    format: labelme-export\n    root: x\n    provenance: site\n    colour: red",
            "key 'colour'",
        ),
        (
            "study: b\n    format: volumes\n    root: x\n    provenance: site\n    synthetic: {seed: 1}",
            "key 'synthetic'",
        ),
        (
            "study: a\n    format: labelme-export\n    root: x\n    provenance: site\n"
            "    pixel_spacing_mm: -2",
            "key 'pixel_spacing_mm'",
        ),
        (
            "study: b\n    format: volumes\n    root: x\n    provenance: site\n"
            "    pixel_spacing_mm: 2",
            "key 'pixel_spacing_mm'",
        ),
    ],
)
def test_bad_entries_name_dataset_and_key(tmp_path, entry, needle):
    path = _manifest(tmp_path, f"version: 1\ndatasets:\n  bad:\n    {entry}\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_bad_yaml_and_unknown_name(tmp_path):
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(_manifest(tmp_path, "datasets: [unclosed\n"))
    path = _manifest(
        tmp_path,
        "datasets:\n  one:\n    study: b\n    format: volumes\n    root: d\n    provenance: site\n",
    )
    with pytest.raises(ManifestError, match=r"no dataset 'two'.*known: \['one'\]"):
        get_dataset("two", path)


def test_site_dataset_missing_root_is_named(tmp_path):
    path = _manifest(
        tmp_path,
        "datasets:\n  mine:\n    study: b\n    format: volumes\n    root: nowhere\n    provenance: site\n",
    )
    with pytest.raises(ManifestError, match="dataset 'mine': root .*nowhere does not exist"):
        get_dataset("mine", path).ensure()


def test_a_root_in_a_symlink_loop_is_a_manifest_error(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    path = _manifest(
        tmp_path,
        "datasets:\n  mine:\n    study: b\n    format: volumes\n    root: a\n    provenance: site\n",
    )
    with pytest.raises(ManifestError, match="dataset 'mine', key 'root': a cannot be resolved"):
        get_dataset("mine", path)


def test_checksum_detects_changed_files(tmp_path):
    data = tmp_path / "data"
    (data / "p1").mkdir(parents=True)
    (data / "p1" / "a.txt").write_text("one")
    (data / ".cache").mkdir()
    (data / ".cache" / "ignored").write_text("x")
    digest = tree_checksum(data)
    path = _manifest(
        tmp_path,
        f"datasets:\n  mine:\n    study: b\n    format: volumes\n    root: data\n"
        f"    provenance: site\n    checksum: {digest}\n",
    )
    ds = get_dataset("mine", path).ensure()  # matches
    assert ds.checksum() == digest
    (data / ".cache" / "ignored").write_text("y")  # hidden caches do not count
    ds.verify()
    (data / "p1" / "a.txt").write_text("two")
    with pytest.raises(ChecksumMismatch, match="dataset 'mine'.*do not match"):
        ds.ensure()
    (data / "p1" / "a.txt").write_text("one")
    (data / "p1" / "b.txt").write_text("new file")
    with pytest.raises(ChecksumMismatch):
        ds.verify()


def test_manifest_found_from_env(tmp_path, monkeypatch):
    path = _manifest(
        tmp_path,
        "datasets:\n  e:\n    study: b\n    format: volumes\n    root: d\n    provenance: site\n",
    )
    monkeypatch.setenv("MPIRAD_MANIFEST", str(path))
    assert set(load_manifest()) == {"e"}
    monkeypatch.setenv("MPIRAD_MANIFEST", str(tmp_path / "none.yaml"))
    with pytest.raises(ManifestError, match="MPIRAD_MANIFEST"):
        load_manifest()


def test_synthetic_dataset_is_generated_verified_and_regenerated_on_new_options(tmp_path):
    body = (
        "datasets:\n  syn:\n    study: a\n    format: labelme-export\n    root: data\n"
        "    provenance: synthetic\n    synthetic: {seed: 3, patients: 2, image_size: 48}\n"
    )
    path = _manifest(tmp_path, body)
    ds = get_dataset("syn", path).ensure()
    assert sorted(p.name for p in ds.root.iterdir() if p.is_dir() and p.name != "truth") == [
        "A001",
        "A002",
    ]
    digest = ds.checksum()
    # recorded checksum: accepted as is; a tampered file is refused by name
    path.write_text(body + f"    checksum: {digest}\n")
    ds = get_dataset("syn", path).ensure()
    first_png = sorted(ds.root.glob("A001/*.png"))[0]
    first_png.write_bytes(first_png.read_bytes() + b"\0")
    with pytest.raises(ChecksumMismatch, match="dataset 'syn'"):
        get_dataset("syn", path).ensure()
    # other generator options: the cohort is regenerated (and no longer matches the old checksum)
    path.write_text(body.replace("patients: 2", "patients: 3"))
    ds = get_dataset("syn", path).ensure()
    assert (ds.root / "A003").is_dir()


def test_the_manifest_imports_no_generator():
    """``mpirad.manifest`` describes data: importing it loads no part of the synthetic
    generator (``manifest -> phantom -> io -> manifest`` was an import circle); a
    synthetic dataset reaches its generator by name only when it is made or described."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "import mpirad.manifest as m\n"
        "before = sorted(k for k in sys.modules if k.startswith('mpirad.phantom'))\n"
        "ds = m.get_dataset('synthetic-a', m.find_manifest(sys.argv[1]))\n"
        "spacing = ds.pixel_spacing_mm\n"
        "after = sorted(k for k in sys.modules if k.startswith('mpirad.phantom'))\n"
        "print(json.dumps([before, after, spacing]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(REPO)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    before, after, spacing = json.loads(result.stdout)
    assert before == [], f"import mpirad.manifest loaded {before}"
    assert "mpirad.phantom.datasets" in after and spacing == pytest.approx(160 / 128)
    # not even inside a function: no import statement of the module names the generator
    import ast

    import mpirad.manifest

    tree = ast.parse(Path(mpirad.manifest.__file__).read_text(encoding="utf-8"))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [name for name in imported if name.startswith("mpirad.phantom")], imported
