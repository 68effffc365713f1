"""The package's wiring, read from its source: the modules' imports form no cycle, and no module takes
another module's private names.

Every ``import`` statement of ``fastnn/`` and ``kernels/`` (installed as
``fastnn.kernels``) counts, those inside functions too: an import that runs
late still ties its module to the one it names. Only imports between
fastnn's own modules make edges; the optional extras (optuna, onnx,
matplotlib, tqdm, ...) and every other outside module are leaves and cannot
close a cycle. A package's ``__getattr__`` that looks a name up by string
(``fastnn.__getattr__``, ``fastnn.nets.__getattr__``, ``fastnn.io.OWNERS``)
is not an import of the module: it runs when the name is first asked for,
and what it reaches is checked below by what ``import`` actually loads.
"""
import ast
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _modules(with_benchmarks: bool = False) -> dict:
    """{dotted module name: path} of every module of the package (and of ``benchmarks/``)."""
    found = {}
    roots = [(ROOT / "fastnn", "fastnn"), (ROOT / "kernels", "fastnn.kernels")]
    if with_benchmarks:
        roots.append((ROOT / "benchmarks", "benchmarks"))
    for base, prefix in roots:
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([prefix, *parts])] = path
    return found


def _imported(name: str, path: pathlib.Path, modules: dict) -> set:
    """The fastnn modules that the module ``name`` (at ``path``) imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()

    def add(target: str) -> None:
        while target and target not in modules:      # ``from pkg import name``: the name may be an attribute
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            if not stem.startswith("fastnn"):
                continue
            for alias in node.names:
                full = f"{stem}.{alias.name}"
                add(full if full in modules else stem)
    return {m for m in out if m.startswith("fastnn")}


def import_graph() -> dict:
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict):
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_reader_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert "fastnn.io" in graph["fastnn.nets.sequential"]            # a top-level ``from .. import io``
    assert "fastnn.trainer" in graph["fastnn.__main__"]              # inside a function: ``from .trainer import``
    assert "fastnn.kernels.optim" in graph["fastnn.optimizer"]       # ``from .kernels import optim``
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_io_depends_on_no_floor_above_it():
    graph = import_graph()
    io_modules = [m for m in graph if m == "fastnn.io" or m.startswith("fastnn.io.")]
    above = ("fastnn.nets", "fastnn.trainer", "fastnn.layers", "fastnn.optimizer", "fastnn.__main__", "fastnn.tune")
    reached = {(m, t) for m in io_modules for t in graph[m] if t.startswith(above)}
    assert len(io_modules) >= 4 and not reached
    code = ("import sys, fastnn.io as io; print(sorted(m for m in sys.modules if m.startswith(('fastnn.nets', "
            "'fastnn.trainer', 'fastnn.layers', 'numba')))); "
            "from fastnn.nets.model_file import load_model; import fastnn.trainer as tr; "
            "print(io.load_model is load_model, io.save_checkpoint is tr.save_checkpoint, "
            "sorted(io.OWNERS) == sorted(set(io.__all__) & set(io.OWNERS)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True True True"


def test_every_package_folder_is_installed():
    """A package folder missing from pyproject's list would be left out of a normal (non-editable) install."""
    text = (ROOT / "pyproject.toml").read_text()    # (read by hand: tomllib is 3.11+, fastnn runs on 3.10)
    block = re.search(r"^\[tool\.setuptools\]\s*packages\s*=\s*\[(.*?)\]", text, re.S | re.M).group(1)
    listed = set(re.findall(r'"([^"]+)"', block))
    folders = {".".join(("fastnn", *p.parent.relative_to(ROOT / "fastnn").parts))
               for p in (ROOT / "fastnn").rglob("__init__.py")} | {"fastnn.kernels"}
    assert folders == listed


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(modules: dict) -> list:
    """``(module, what, line)`` for each use of another module's private name (``_x``, not a module itself).

    Two forms are read: ``from M import _x`` and ``m._x`` where ``m`` was bound
    by an import to the module M. A private *module* (``fastnn._runtime``,
    ``fastnn.tune._worker``) may be imported; its public names are its interface.
    """
    found = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), filename=str(path))
        bound = {}                                         # local name -> module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    stem = ".".join(base[:len(base) - (node.level - 1)] + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                for alias in node.names:
                    if f"{stem}.{alias.name}" in modules:
                        bound[alias.asname or alias.name] = f"{stem}.{alias.name}"
                    elif _private(alias.name) and stem in modules and stem != name:
                        found.append((name, f"from {stem} import {alias.name}", node.lineno))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules and alias.asname:
                        bound[alias.asname] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                chain, value = [node.attr], node.value
                while isinstance(value, ast.Attribute):
                    chain.append(value.attr)
                    value = value.value
                if not isinstance(value, ast.Name):
                    continue
                dotted = ".".join([bound.get(value.id, value.id), *reversed(chain)])
                owner, _, attr = dotted.rpartition(".")
                if owner in modules and owner != name and dotted not in modules:
                    found.append((name, dotted, node.lineno))
    return found


def test_the_private_name_reader_sees_both_forms(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "low.py").write_text("def _hidden(): pass\ndef shown(): pass\n")
    (tmp_path / "pkg" / "_inner.py").write_text("def shown(): pass\n")
    (tmp_path / "pkg" / "high.py").write_text(
        "from .low import _hidden, shown\nfrom . import low, _inner\nimport pkg.low\n"
        "def f():\n    return low._hidden, pkg.low._hidden, _inner.shown, low.shown\n")
    mods = {m: tmp_path / "pkg" / f"{m.split('.')[-1]}.py" for m in ("pkg.low", "pkg._inner", "pkg.high")}
    mods["pkg"] = tmp_path / "pkg" / "__init__.py"
    assert sorted(what for _, what, _ in private_uses(mods)) == [
        "from pkg.low import _hidden", "pkg.low._hidden", "pkg.low._hidden"]


def test_no_module_uses_another_modules_private_names():
    """What modules share has a public name where it lives (fastnn, kernels and benchmarks alike)."""
    uses = private_uses(_modules(with_benchmarks=True))
    assert not uses, "\n".join(f"{m}:{line}: {what}" for m, what, line in uses)
