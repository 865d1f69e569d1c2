"""The type stub (imprint/__init__.pyi) names what the module has, with the same parameters."""
import ast
import os

import imprint


def stub_functions():
    path = os.path.join(os.path.dirname(imprint.__file__), "__init__.pyi")
    tree = ast.parse(open(path).read())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield node.name, getattr(imprint, node.name), node
        elif isinstance(node, ast.ClassDef):
            cls = getattr(imprint, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not item.decorator_list:
                    yield f"{node.name}.{item.name}", getattr(cls, item.name), item


def test_stub_parameters_are_the_modules():
    checked = 0
    for name, obj, node in stub_functions():
        doc = getattr(obj, "__doc__", "") or ""
        if name.startswith("Error") or name.endswith(("__eq__", "__hash__", "__exit__")):
            continue
        # pybind11 writes each signature as the docstring's first line: name(arg: type, ...).
        signature = doc.split("\n")[0]
        args = node.args
        for a in args.posonlyargs + args.args + args.kwonlyargs:
            if a.arg != "self":
                assert f"{a.arg}:" in signature, f"{name}: {a.arg} not in {signature}"
        checked += 1
    assert checked >= 12
