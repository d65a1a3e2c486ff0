"""The shape of the code: three layers with imports only downward, and one installed namespace.

runtime (synthstream.streams.runtime) <- stages (synthstream.agents) <- application
(synthstream.streams.app). A module may import its own layer and the ones below it, never above;
nothing imports the old generic top-level names ``streams`` or ``agents``."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"streams": "synthstream.streams", "agents": "synthstream.agents"}
LAYERS = ("synthstream.streams.runtime", "synthstream.agents", "synthstream.streams.app")  # bottom to top


def layer_of(module: str) -> int | None:
    """Index into LAYERS (0 = runtime); the package ``synthstream.streams`` itself holds only the
    version and counts as runtime. None: not ours."""
    if module == "synthstream.streams":
        return 0
    for i, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return i
    return None


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([FOLDERS[parts[0]], *parts[1:]])


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, function-level ones included."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from pkg import module" imports pkg.module when that is a module of ours
            out.append((node.lineno, target))
            out += [(node.lineno, f"{target}.{alias.name}") for alias in node.names
                    if layer_of(f"{target}.{alias.name}") is not None and alias.name != "*"]
    return out


def violations(root: Path = ROOT) -> list[str]:
    problems = []
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            module = module_name(path, root)
            own = layer_of(module)
            reported = set()
            for line, target in imports_of(path, module):
                where = f"{path.relative_to(root)}:{line}"
                if where in reported:
                    continue  # one finding per import statement
                top = target.split(".")[0]
                if top in FOLDERS:
                    problems.append(f"{where}: imports {target}, a generic top-level name; use synthstream.{target}")
                    reported.add(where)
                    continue
                theirs = layer_of(target)
                if own is not None and theirs is not None and theirs > own:
                    problems.append(f"{where}: {LAYERS[own]} imports {target} from the layer above it "
                                    f"({LAYERS[theirs]})")
                    reported.add(where)
    return problems


def test_imports_go_only_downward():
    assert violations() == []


def test_an_upward_import_is_caught(tmp_path):
    """The checker itself: a runtime module importing a stage, a stage importing the CLI, and a
    generic name are all reported."""
    (tmp_path / "streams" / "runtime").mkdir(parents=True)
    (tmp_path / "streams" / "app").mkdir()
    (tmp_path / "agents" / "dedup").mkdir(parents=True)
    (tmp_path / "streams" / "runtime" / "serde.py").write_text(
        "def f():\n    from synthstream.agents.dedup import core\n")
    (tmp_path / "agents" / "dedup" / "core.py").write_text(
        "from ...streams.app import cli\nimport streams.runtime.errors\n")
    (tmp_path / "streams" / "app" / "cli.py").write_text(
        "from synthstream.agents.dedup import core\nfrom synthstream.streams.runtime import serde\n")
    found = violations(tmp_path)
    assert len(found) == 3, found
    assert any("runtime/serde.py:2" in p and "synthstream.agents.dedup" in p for p in found)
    assert any("dedup/core.py:1" in p and "synthstream.streams.app" in p for p in found)
    assert any("dedup/core.py:2" in p and "generic" in p for p in found)


def source_packages() -> set[str]:
    out = set()
    for folder in FOLDERS:
        for init in (ROOT / folder).rglob("__init__.py"):
            out.add(module_name(init))
    return out


def test_every_folder_with_code_is_a_package():
    """setuptools installs only listed packages: a folder of modules without __init__.py would be
    missing from the wheel."""
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            assert (path.parent / "__init__.py").exists(), f"{path.parent.relative_to(ROOT)} has no __init__.py"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools packs whatever an earlier build left in build/lib too
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("streams", "agents", "schemas"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [whl] = out.glob("synthstream-*.whl")
    return whl


def test_the_wheel_installs_only_the_synthstream_namespace(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"synthstream"}
    assert "synthstream/__init__.py" not in names  # a namespace: others may add to it
    packaged = {n.rpartition("/")[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert source_packages() <= packaged, sorted(source_packages() - packaged)
    # the data the code reads at run time travels with it
    for needed in ("synthstream/schemas/AcceptedRecord.avsc", "synthstream/schemas/history/CURRENT.json",
                   "synthstream/agents/verification/data/facts.jsonl",
                   "synthstream/agents/generation/tasks/data/code_catalogue.jsonl",
                   "synthstream/streams/app/kafka_local/pom.xml.in"):
        assert needed in names, needed


def test_synthstream_and_openai_agents_install_side_by_side(wheel, tmp_path):
    """The OpenAI Agents SDK installs a top-level ``agents``; both must stay importable in one
    environment. Both go into one target directory; a clean interpreter (no site, so not this
    checkout's editable install) imports each from there."""
    target = tmp_path / "env"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                           str(wheel)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(target), "openai-agents"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import sysconfig

    site = sysconfig.get_paths()["purelib"]  # this environment's packages serve synthstream's own dependencies
    code = ("import sys; sys.path[:] = [sys.argv[1], *sys.path, sys.argv[2]]\n"
            "import agents, synthstream.agents.spec, synthstream.streams.app.cli, synthstream.streams.runtime.serde as s\n"
            "assert hasattr(agents, 'Agent') and hasattr(agents, 'Runner'), agents.__file__\n"
            "assert agents.__file__.startswith(sys.argv[1]), agents.__file__\n"
            "assert synthstream.agents.spec.__file__.startswith(sys.argv[1]), synthstream.agents.spec.__file__\n"
            "assert 'AcceptedRecord' in s.registry().names(), 'schemas not found in the installed package'\n")
    proc = subprocess.run([sys.executable, "-S", "-c", code, str(target), site], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
