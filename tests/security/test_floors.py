"""Dependency floors against known advisories, offline.

``ADVISORIES`` is the table: for each package cnnvis depends on, the advisories that matter for
what cnnvis does with it and the first release that fixes each. Every requirement on such a
package in pyproject.toml (core and extras) must have a floor at or above every fixed release, and
the versions the resolver installed must satisfy pyproject's ranges and be fixed too.

Run by ``make lint`` as a script (``python tests/security/test_floors.py``: exit status 1 and the
reasons when a floor admits a vulnerable release) and by pytest with the other tests. When a new
advisory appears, add a row and raise the floor.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10: pytest brings tomli there
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

# (package, advisory, first fixed release, why it matters to cnnvis)
ADVISORIES = [
    ("torch", "CVE-2025-32434", "2.6.0", "torch.load(weights_only=True) can still run code"),
    ("keras", "CVE-2025-1550", "3.9.0", "safe_mode bypass through a .keras archive's config"),
    ("keras", "CVE-2025-8747", "3.11.0", "safe_mode bypass when loading a .keras archive"),
    ("keras", "CVE-2025-9905", "3.11.3", "safe_mode ignored for legacy .h5 files"),
    ("keras", "GHSA-hqp4-2352-xf5r", "3.14.0", "path traversal when extracting a model archive"),
    ("jupyter-server", "CVE-2023-39968", "2.7.2", "open redirect on login"),
    ("jupyter-server", "CVE-2023-40170", "2.7.2", "cross-site inclusion of static files"),
    ("jupyter-server", "CVE-2024-35178", "2.14.1", "NTLM hash leak through a path on Windows"),
    ("tornado", "CVE-2023-28370", "6.3.2", "open redirect in StaticFileHandler"),
    ("tornado", "CVE-2024-52804", "6.4.2", "quadratic cookie parsing (denial of service)"),
    ("tornado", "CVE-2025-47287", "6.5", "multipart/form-data log flood (denial of service)"),
    ("pyarrow", "CVE-2023-47248", "14.0.1", "arbitrary code execution reading IPC/Parquet files"),
    ("opencv-python-headless", "CVE-2023-4863", "4.8.1.78", "heap overflow in the bundled libwebp"),
    ("onnx", "CVE-2024-27318", "1.16.0", "external data path traversal"),
    ("onnx", "CVE-2024-5187", "1.17.0", "path traversal extracting downloaded model archives"),
    ("jupyterlab", "CVE-2024-43805", "4.2.5", "HTML injection in Markdown previews and cells"),
    ("notebook", "CVE-2024-43805", "7.2.2", "HTML injection in Markdown previews and cells"),
    ("ipython", "CVE-2023-24816", "8.10.0", "command injection through set_term_title"),
    ("tqdm", "CVE-2024-34062", "4.66.3", "eval of CLI arguments"),
    ("scikit-learn", "CVE-2024-5206", "1.5.0", "TfidfVectorizer keeps stop-word tokens (data leak)"),
    ("ray", "CVE-2023-6019", "2.8.1", "command injection in the dashboard's cpu_profile"),
]


def requirements(path: Path = PYPROJECT) -> list[tuple[str, Requirement]]:
    """``(where, requirement)`` for the core dependencies and every extra."""
    project = tomllib.loads(path.read_text())["project"]
    found = [("dependencies", Requirement(r)) for r in project.get("dependencies", [])]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        found += [(f"[{extra}]", Requirement(r)) for r in reqs]
    return found


def floor(requirement: Requirement) -> Version | None:
    """The lowest release the specifier can admit (from its >=, >, ==, ~= clauses), or None."""
    bounds = [Version(s.version.rstrip(".*")) for s in requirement.specifier if s.operator in (">=", ">", "==", "~=")]
    return max(bounds) if bounds else None


def floor_problems(reqs: list[tuple[str, Requirement]]) -> list[str]:
    problems = []
    for where, req in reqs:
        name = canonicalize_name(req.name)
        for package, advisory, fixed, why in ADVISORIES:
            if canonicalize_name(package) != name:
                continue
            low = floor(req)
            if low is None or low < Version(fixed):
                problems.append(f"{where}: {req} admits releases before {fixed} ({advisory}: {why})")
    return problems


def installed_problems(reqs: list[tuple[str, Requirement]]) -> list[str]:
    """Installed versions outside pyproject's ranges, or below a fixed release (not installed: skipped)."""
    problems = []
    for where, req in reqs:
        try:
            version = Version(importlib.metadata.version(req.name))
        except importlib.metadata.PackageNotFoundError:
            continue  # an extra this environment does not install
        if not req.specifier.contains(version, prereleases=True):
            problems.append(f"{where}: installed {req.name} {version} is outside {req.specifier}")
    for package, advisory, fixed, why in ADVISORIES:
        try:
            version = Version(importlib.metadata.version(package))
        except importlib.metadata.PackageNotFoundError:
            continue
        if version < Version(fixed):
            problems.append(f"installed {package} {version} is before {fixed} ({advisory}: {why})")
    return problems


def test_every_floor_is_at_or_above_every_fixed_release():
    assert floor_problems(requirements()) == []


def test_the_check_catches_a_floor_that_admits_a_vulnerable_release(tmp_path):
    old = tmp_path / "pyproject.toml"
    old.write_text('[project]\nname = "x"\ndependencies = ["tornado", "jupyter_server>=2.4"]\n'
                   '[project.optional-dependencies]\ntorch = ["torch>=2.2"]\nkeras = ["keras>=3.11.3,<4"]\n')
    problems = floor_problems(requirements(old))
    assert [p.split(":")[0] for p in problems] == ["dependencies"] * 6 + ["[torch]", "[keras]"]
    assert any("CVE-2025-32434" in p for p in problems) and any("GHSA-hqp4-2352-xf5r" in p for p in problems)
    assert not any("CVE-2025-9905" in p for p in problems)  # 3.11.3 is fixed for that one


def test_installed_versions_satisfy_the_floors():
    reqs = requirements()
    assert installed_problems(reqs) == []
    checked = [r for _, r in reqs if _installed(r.name)]
    assert {"numpy", "jupyter_server", "tornado"} <= {r.name for r in checked}


def test_every_advisory_names_a_package_cnnvis_depends_on():
    names = {canonicalize_name(r.name) for _, r in requirements()}
    assert {canonicalize_name(p) for p, *_ in ADVISORIES} <= names


def _installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


if __name__ == "__main__":
    found = floor_problems(requirements()) + installed_problems(requirements())
    for line in found:
        print("dependency floors:", line, file=sys.stderr)
    if not found:
        print(f"dependency floors: {len(ADVISORIES)} advisories, every floor above their fixed releases")
    sys.exit(1 if found else 0)
