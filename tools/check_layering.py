#!/usr/bin/env python3
"""Checks that uoe's libraries depend only downwards.

The order of the libraries is the order of `add_subdirectory` in src/CMakeLists.txt (bottom first).
A file in src/<X>/ may include "<Y>/..." only where Y is X or comes before X, and the
target_link_libraries line of uoe_<X> may name only uoe_ libraries of folders before X. Prints every
upward edge (file, line, what it includes) and exits 1 if there is one.

Usage: python3 tools/check_layering.py [repo root]
"""
import os
import re
import sys


def library_order(root):
    text = open(os.path.join(root, "src", "CMakeLists.txt")).read()
    return re.findall(r"^add_subdirectory\((\w+)\)", text, re.M)


def library_names(root, folders):
    """uoe_<name> target -> folder, from each folder's uoe_library(...) call."""
    names = {}
    for folder in folders:
        text = open(os.path.join(root, "src", folder, "CMakeLists.txt")).read()
        for name in re.findall(r"uoe_(?:\w+_)?library\((uoe_\w+)", text):
            names[name] = folder
    return names


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    order = library_order(root)
    rank = {folder: i for i, folder in enumerate(order)}
    problems = []
    for folder in order:
        for dirpath, _, files in os.walk(os.path.join(root, "src", folder)):
            for name in sorted(files):
                if not name.endswith((".h", ".cpp")):
                    continue
                path = os.path.join(dirpath, name)
                for lineno, line in enumerate(open(path, encoding="utf-8"), 1):
                    m = re.match(r'\s*#\s*include\s+"(\w+)/', line)
                    if m and m.group(1) in rank and rank[m.group(1)] > rank[folder]:
                        problems.append(f"{os.path.relpath(path, root)}:{lineno}: src/{folder} includes "
                                        f"{line.split()[1]} from src/{m.group(1)}, which comes after it")
    names = library_names(root, order)
    for target, folder in names.items():
        text = open(os.path.join(root, "src", folder, "CMakeLists.txt")).read()
        for links in re.findall(r"target_link_libraries\(" + target + r"\b([^)]*)\)", text):
            for dep in re.findall(r"uoe_\w+", links):
                if dep in names and rank[names[dep]] > rank[folder]:
                    problems.append(f"src/{folder}/CMakeLists.txt: {target} links {dep} (src/{names[dep]}), "
                                    "which comes after it")
    for p in problems:
        print(p)
    print(f"layering: {len(order)} libraries in order {' < '.join(order)}; "
          f"{len(problems)} upward edge(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
