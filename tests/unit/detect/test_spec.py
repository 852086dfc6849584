"""Detector spec loading: valid files, and located errors for every kind of mistake."""

from __future__ import annotations

from watchdog.detect.spec import load_detector_files


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_valid_file(tmp_path):
    p = write(tmp_path, "d.yml", """
detectors:
  - name: api-latency
    input: probe_duration_seconds{target="api"}
    algorithm: ewma
    params: {alpha: 0.1}
    warmup: 1h
    labels: {team: web}
""")
    specs, errors = load_detector_files([p])
    assert errors == []
    (s,) = specs
    assert (s.name, s.algorithm, s.warmup, dict(s.labels)) == ("api-latency", "ewma", 3600.0, {"team": "web"})
    assert s.params.alpha == 0.1
    assert s.new_detector().update(0.0, 1.0) == 0.0


def test_errors_are_located(tmp_path):
    p = write(tmp_path, "bad.yml", """detectors:
  - name: a
    input: up
    algorithm: nosuch
  - name: b
    input: 'rate(up[5m'
    algorithm: ewma
  - name: c
    input: up
    algorithm: ewma
    params: {alpha: 2, bogus: 1}
  - name: d
    input: up
    algorithm: ewma
    labels: {detector: x}
    colour: red
""")
    specs, errors = load_detector_files([p])
    assert specs == []
    text = [str(e) for e in errors]
    assert any(t.startswith(f"{p}:4:5: detectors[0].algorithm: ") and "unknown algorithm 'nosuch'" in t for t in text), text
    assert any(t.startswith(f"{p}:6:5: detectors[1].input: ") and "invalid PromQL" in t for t in text), text
    assert any(t.startswith(f"{p}:11:14: detectors[2].params.alpha: ") for t in text), text
    assert any(t == f"{p}:11:24: detectors[2].params.bogus: unknown field" for t in text), text
    assert any(t.startswith(f"{p}:15:5: detectors[3].labels: ") and "set by the detector runner" in t for t in text), text
    assert any(t == f"{p}:16:5: detectors[3].colour: unknown field" for t in text), text


def test_duplicate_names_across_files(tmp_path):
    a = write(tmp_path, "a.yml", "detectors:\n  - {name: x, input: up, algorithm: ewma}\n")
    b = write(tmp_path, "b.yml", "detectors:\n  - {name: x, input: up, algorithm: robust_z}\n")
    specs, errors = load_detector_files([a, b])
    assert [s.path for s in specs] == [a]
    assert len(errors) == 1 and errors[0].path == b and "duplicate detector name 'x'" in errors[0].message


def test_shipped_detector_files_are_valid(root_dir):
    import glob

    paths = sorted(glob.glob(str(root_dir / "detectors" / "*.yml")))
    assert paths
    specs, errors = load_detector_files(paths)
    assert errors == [] and len(specs) >= 1


def test_spec_without_algorithm_gets_the_default_detector(tmp_path):
    from watchdog.detect.novelty import Novelty

    p = tmp_path / "d.yml"
    p.write_text("detectors:\n  - {name: plain, input: up}\n")
    specs, errors = load_detector_files([str(p)])
    assert errors == []
    assert specs[0].algorithm == "ensemble" and isinstance(specs[0].new_detector(), Novelty)
    assert specs[0].new_batch() is not None
