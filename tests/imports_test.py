"""The package's import graph, read from the source: no circle, and decoding and export
never reach the trainer (they share `tf_transformer.artifacts` with it instead).

Every `import` counts, also those inside functions: a lazy import hides a circle from
the interpreter but not from a reader.
"""

import ast
import os

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "tf_transformer")


def import_graph(package_dir: str) -> dict:
    """{module: set of the package's modules it imports}, module names dotted."""
    root = os.path.dirname(package_dir)
    files = {}
    for folder, _, names in os.walk(package_dir):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                files[module.removesuffix(".__init__")] = path
    package = os.path.basename(package_dir)
    graph = {}
    for module, path in files.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        is_package = path.endswith("__init__.py")
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's own package upwards
                    parts = module.split(".")[:len(module.split(".")) - node.level + is_package]
                    base = ".".join(parts + ([base] if base else []))
                # `from pkg import name`: the submodule pkg.name if there is one.
                targets.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files
                               else base for alias in node.names)
        graph[module] = {t for t in targets if t.split(".")[0] == package and t in files
                         and t != module}
    return graph


def find_cycle(graph: dict) -> list:
    """One circle of `graph` as [a, b, ..., a], or [] when there is none."""
    done, path = set(), []

    def visit(module):
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return []
        path.append(module)
        for target in sorted(graph.get(module, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return []

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return []


def reachable(graph: dict, module: str) -> set:
    """The modules `module` imports, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_the_package_has_no_import_circle():
    cycle = find_cycle(import_graph(PACKAGE_DIR))
    assert not cycle, "import circle: " + " -> ".join(cycle)


def test_decoding_and_export_do_not_reach_the_trainer():
    graph = import_graph(PACKAGE_DIR)
    assert "tf_transformer.training.trainer" in graph
    offenders = sorted(m for m in graph if m.startswith(("tf_transformer.decoding",
                                                         "tf_transformer.export"))
                       and "tf_transformer.training.trainer" in reachable(graph, m))
    assert not offenders, f"{offenders} import tf_transformer.training.trainer"


def test_a_circle_through_a_lazy_or_relative_import_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import b\n")
    (package / "a.py").write_text("import os\n\ndef f():\n    from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("from ..a import f\n")
    (package / "c.py").write_text("import pkg.a\n")
    graph = import_graph(str(package))
    assert graph == {"pkg": set(), "pkg.sub": {"pkg.sub.b"}, "pkg.a": {"pkg.sub.b"},
                     "pkg.sub.b": {"pkg.a"}, "pkg.c": {"pkg.a"}}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]
    assert reachable(graph, "pkg.c") == {"pkg.a", "pkg.sub.b"}
    graph["pkg.sub.b"] = set()
    assert find_cycle(graph) == []

