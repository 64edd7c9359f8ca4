"""Well-kept libraries against flux-fleet's own fast paths, on the same objects and rules.

    python bench/bench_libraries.py              # -> docs/performance.md (its own section)
    python bench/bench_libraries.py --no-write   # print the section only

flux-fleet kept two pieces of hand-written speed: ``validate/fastschema.py`` (a JSON Schema
compiled into closures that answer valid/invalid; python-jsonschema then locates the errors of
the invalid objects) and ``validate/cel_subset.py`` (the CEL rules of the Flux CRDs that fit a
small subset, compiled to closures; the rest go to cel-python). This bench measures the fast
paths validate uses against the libraries that could replace them (installed from the
``libs`` extra when missing):

- schemas: fastschema, jsonschema-rs and python-jsonschema, over the objects of a rendered
  5 x 100 fleet (nulls pruned as validate does) plus an invalid copy of one object of each
  kind; and what one validate of the default fleet (``flux-fleet new --defaults``) pays:
  compiling its kinds and checking its objects once, from a fresh store, as each run does;
- CEL: cel-python (what flux-fleet falls back to), common-expression-language (Rust, module
  ``cel``) and cel-expr-python (Google's C++ runtime), over every rule of the shipped schemas
  on generated values (the rule's own fields present, absent, of the wrong type).

Every candidate's verdict is compared with the reference (python-jsonschema; cel-python) on
every input; a library that cannot be installed is reported as such, never measured. Exits 1
when a candidate disagrees on a verdict it gives (not "could not evaluate"). Not part of the
test run.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))
MARK_START = "<!-- bench_libraries.py: start -->"
MARK_END = "<!-- bench_libraries.py: end -->"
ANCHOR = "<!-- bench_scale.py: start -->"
CANDIDATES = {"jsonschema_rs": "jsonschema-rs", "cel": "common-expression-language",
              "cel_expr_python": "cel-expr-python"}


def ensure(module: str) -> str:
    """Import ``module`` (installing its package when missing); '' or why it is not there."""
    try:
        importlib.import_module(module)
        return ""
    except ImportError:
        pass
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", CANDIDATES[module]],
                          capture_output=True, text=True, check=False)
    try:
        importlib.import_module(module)
        return ""
    except ImportError as exc:
        return f"not installed: {(done.stderr.strip().splitlines() or [str(exc)])[-1][:120]}"


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def best(fn: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


# --- schemas ---------------------------------------------------------------------------------

def fleet_objects(work: Path) -> list[tuple[str, str, Any]]:
    """(apiVersion, kind, data as the API server validates it) of a rendered 5 x 100 fleet."""
    import bench_scale

    from flux_fleet.scaffold import copier_run
    from flux_fleet.validate.checks import build, schema
    from flux_fleet.validate.loader import load_tree

    root = work / "fleet"
    copier_run.copy(str(REPO), root, bench_scale.answers(5, 100))
    loaded = load_tree(root)
    cls = build.classify(loaded.documents)
    return [(o.api_version, o.id.kind, schema.without_nulls(o.data))
            for o in build.file_objects(loaded.documents, cls)]


def broken(data: Any) -> Any:
    """An invalid copy: a name of the wrong type (every kind's ObjectMeta says string)."""
    copy = json.loads(json.dumps(data))
    copy.setdefault("metadata", {})["name"] = 12345
    return copy


def bench_schemas(objects: list[tuple[str, str, Any]]) -> tuple[list[str], int]:
    import jsonschema.validators

    from flux_fleet.resources import schemas_dir
    from flux_fleet.validate.fastschema import compile_schema
    from flux_fleet.validate.schema_store import SchemaStore

    store = SchemaStore(schemas_dir())
    kinds: dict[tuple[str, str], dict[str, Any]] = {}
    for api, kind, _ in objects:
        info = store.info(api, kind)
        if info is not None and info.file is not None and (api, kind) not in kinds:
            kinds[(api, kind)] = store._loaded(info.file)
    inputs = [(api, kind, data) for api, kind, data in objects if (api, kind) in kinds]
    seen: set[tuple[str, str]] = set()
    for api, kind, data in list(inputs):
        if (api, kind) not in seen:
            seen.add((api, kind))
            inputs.append((api, kind, broken(data)))

    def py_compile() -> dict[tuple[str, str], Callable[[Any], bool]]:
        out = {}
        for key, schema in kinds.items():
            cls = jsonschema.validators.validator_for(schema,
                                                      default=jsonschema.Draft202012Validator)
            out[key] = cls(schema).is_valid
        return out

    candidates: dict[str, Callable[[], dict[tuple[str, str], Callable[[Any], bool]]] | str] = {
        "fastschema (ours, validate's fast path)": lambda: {
            k: compile_schema(v) for k, v in kinds.items()},
        "python-jsonschema": py_compile,
    }
    missing = ensure("jsonschema_rs")
    if missing:
        candidates["jsonschema-rs"] = missing
    else:
        import jsonschema_rs

        candidates["jsonschema-rs"] = lambda: {
            k: jsonschema_rs.validator_for(v, validate_formats=False, offline=True).is_valid
            for k, v in kinds.items()}
    verdicts: dict[str, list[bool]] = {}
    rows = ["| candidate | version | compile (ms, the fleet's kinds; fastschema and "
            "python-jsonschema compile lazily) | objects/s (is valid?) "
            "| agrees with python-jsonschema |", "|---|---|---|---|---|"]
    versions = {"fastschema (ours, validate's fast path)": "-",
                "python-jsonschema": version("jsonschema"),
                "jsonschema-rs": version("jsonschema-rs")}
    results: dict[str, tuple[float, float]] = {}
    for name, make in candidates.items():
        if isinstance(make, str):
            rows.append(f"| {name} | - | {make} | - | - |")
            continue
        compiled = make()
        compile_s = best(make)

        def run(compiled: dict[tuple[str, str], Callable[[Any], bool]] = compiled) -> None:
            for api, kind, data in inputs:
                compiled[(api, kind)](data)

        run_s = best(run)
        verdicts[name] = [bool(compiled[(api, kind)](data)) for api, kind, data in inputs]
        results[name] = (compile_s, run_s)
    reference = verdicts["python-jsonschema"]
    disagreements = 0
    for name, (compile_s, run_s) in results.items():
        differ = sum(a != b for a, b in zip(verdicts[name], reference, strict=True))
        if name != "python-jsonschema":
            disagreements += differ
        rows.append(f"| {name} | {versions[name]} | {compile_s * 1000:.1f} | "
                    f"{len(inputs) / run_s:,.0f} | "
                    + ("reference" if name == "python-jsonschema" else
                       f"{len(inputs) - differ:,} of {len(inputs):,}") + " |")
    invalid = sum(not v for v in reference)
    rows.append("")
    rows.append(f"{len(inputs):,} objects of {len(kinds)} kinds ({invalid} invalid by the "
                "reference), best of 3.")
    return rows, disagreements


def default_fleet_objects(work: Path) -> list[tuple[str, str, Any]]:
    """The objects of ``flux-fleet new --defaults`` (the pre-commit-sized fleet)."""
    from flux_fleet.scaffold import render
    from flux_fleet.validate.checks import build, schema
    from flux_fleet.validate.loader import load_tree

    root = render.render_new(work / "default", {}, defaults=True)
    loaded = load_tree(root)
    cls = build.classify(loaded.documents)
    return [(o.api_version, o.id.kind, schema.without_nulls(o.data))
            for o in build.file_objects(loaded.documents, cls)]


def bench_one_run(objects: list[tuple[str, str, Any]]) -> list[str]:
    """What one validate run pays: compile the kinds it meets, check each object once."""
    from flux_fleet.resources import schemas_dir
    from flux_fleet.validate.fastschema import compile_schema
    from flux_fleet.validate.schema_store import SchemaStore

    store = SchemaStore(schemas_dir())
    schemas = {}
    for api, kind, _ in objects:
        info = store.info(api, kind)
        if info is not None and info.file is not None:
            schemas[(api, kind)] = store._loaded(info.file)
    inputs = [(api, kind, data) for api, kind, data in objects if (api, kind) in schemas]
    makers: dict[str, Callable[[Any], Callable[[Any], bool]]] = {
        "fastschema (ours)": compile_schema}
    if not ensure("jsonschema_rs"):
        import jsonschema_rs

        makers["jsonschema-rs"] = lambda schema: jsonschema_rs.validator_for(
            schema, validate_formats=False, offline=True).is_valid
    rows = ["| candidate | one run: compile and check (ms) |", "|---|---|"]
    for name, make in makers.items():
        def once(make: Callable[[Any], Callable[[Any], bool]] = make) -> None:
            compiled: dict[tuple[str, str], Callable[[Any], bool]] = {}
            for api, kind, data in inputs:
                check = compiled.get((api, kind))
                if check is None:
                    check = compiled[(api, kind)] = make(schemas[(api, kind)])
                check(data)

        rows.append(f"| {name} | {best(once, 15) * 1000:.2f} |")
    rows.append("")
    rows.append(f"The default fleet: {len(inputs)} objects of {len(schemas)} kinds, a fresh "
                "compile per run as in validate; best of 15.")
    return rows


# --- CEL -------------------------------------------------------------------------------------

def shipped_rules() -> list[str]:
    """Every CEL rule of the shipped schemas (``cel.collect_rules``, as the store finds them)."""
    from flux_fleet.validate.cel import collect_rules

    return sorted({rule.rule for path in (REPO / "schemas").rglob("*.json")
                   for rule in collect_rules(json.loads(path.read_text(encoding="utf-8")))})


def values_for(rule: str, rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Objects shaped by the rule: its field paths present or absent, holding its literals or
    values of other types (as tests/test_cel_subset.py generates them)."""
    paths = [m.group(0).split(".")[1:] for m in re.finditer(r"self(?:\.\w+)+", rule)]
    literals = re.findall(r"'([^']*)'", rule) or ["x"]
    leaves: list[Callable[[], Any]] = [
        lambda: rng.choice(literals), lambda: "".join(rng.choice("ab") for _ in range(2)),
        lambda: rng.randint(-1, 3), lambda: rng.random() < 0.5, lambda: None,
        lambda: ["a"] * rng.randint(0, 2), lambda: {"name": "a"}]
    out = []
    for _ in range(n):
        obj: dict[str, Any] = {}
        for steps in paths:
            if rng.random() < 0.3:
                continue
            node = obj
            for step in steps[:-1]:
                child = node.get(step)
                if not isinstance(child, dict):
                    child = node[step] = {}
                node = child
            node[steps[-1]] = rng.choice(leaves)()
        out.append(obj)
    return out


Verdict = bool | None  # None: the candidate could not evaluate it (error, not a bool)


def cel_candidates() -> dict[str, tuple[Callable[[str], Any], Callable[[Any, Any], Verdict]] | str]:
    import celpy

    from flux_fleet.validate.cel_subset import Defer, compile_rule

    env = celpy.Environment()

    def celpy_eval(program: Any, value: Any) -> Verdict:
        try:
            result = program.evaluate({"self": celpy.json_to_cel(value)})
        except Exception:
            return None
        return bool(result) if isinstance(result, (bool, celpy.celtypes.BoolType)) else None

    def subset_eval(program: Any, value: Any) -> Verdict:
        if program is None:
            return None
        try:
            return bool(program(value))
        except Defer:
            return None  # cel-python decides these

    out: dict[str, Any] = {
        "cel_subset (ours)": (compile_rule, subset_eval),
        "cel-python": (lambda r: env.program(env.compile(r)), celpy_eval),
    }
    missing = ensure("cel")
    if missing:
        out["common-expression-language"] = missing
    else:
        import cel

        def rust_eval(program: Any, value: Any) -> Verdict:
            try:
                result = program.execute({"self": value})
            except Exception:
                return None
            return result if isinstance(result, bool) else None

        out["common-expression-language"] = (cel.compile, rust_eval)
    missing = ensure("cel_expr_python")
    if missing:
        out["cel-expr-python"] = missing
    else:
        from cel_expr_python import cel as cxp

        cenv = cxp.NewEnv(variables={"self": cxp.Type.DYN})

        def cpp_eval(program: Any, value: Any) -> Verdict:
            try:
                result = program.eval(data={"self": value}).value()
            except Exception:
                return None
            return result if isinstance(result, bool) else None

        out["cel-expr-python"] = (cenv.compile, cpp_eval)
    return out


def bench_cel(per_rule: int) -> tuple[list[str], int]:
    rules = shipped_rules()
    rng = random.Random(15)
    cases = [(rule, value) for rule in rules for value in values_for(rule, rng, per_rule)]
    rows = ["| candidate | version | rules compiled (of " + str(len(rules)) + ") | compile (ms, "
            "all rules) | evaluations/s | verdicts given | agrees with cel-python where both "
            "give one |", "|---|---|---|---|---|---|---|"]
    versions = {"cel_subset (ours)": "-", "cel-python": version("cel-python"),
                "common-expression-language": version("common-expression-language"),
                "cel-expr-python": version("cel-expr-python")}
    measured: dict[str, tuple[int, float, float, list[Verdict]]] = {}
    missing_rows = []
    for name, cand in cel_candidates().items():
        if isinstance(cand, str):
            missing_rows.append(f"| {name} | - | {cand} | - | - | - | - |")
            continue
        make, evaluate = cand

        def compile_all(make: Callable[[str], Any] = make) -> dict[str, Any]:
            out = {}
            for rule in rules:
                try:
                    out[rule] = make(rule)
                except Exception:
                    out[rule] = None
            return out

        programs = compile_all()
        compile_s = best(compile_all, 1)
        compiled = sum(p is not None for p in programs.values())

        def run(programs: dict[str, Any] = programs,
                evaluate: Callable[[Any, Any], Verdict] = evaluate) -> list[Verdict]:
            return [evaluate(programs[rule], value) if programs[rule] is not None else None
                    for rule, value in cases]

        run_s = best(run)
        measured[name] = (compiled, compile_s, run_s, run())
    reference = measured["cel-python"][3]
    disagreements = 0
    for name, (compiled, compile_s, run_s, verdicts) in measured.items():
        given = sum(v is not None for v in verdicts)
        both = [(v, r) for v, r in zip(verdicts, reference, strict=True)
                if v is not None and r is not None]
        differ = sum(v != r for v, r in both)
        if name != "cel-python":
            disagreements += differ
        rows.append(f"| {name} | {versions[name]} | {compiled} | {compile_s * 1000:.1f} | "
                    f"{len(cases) / run_s:,.0f} | {given:,} of {len(cases):,} | "
                    + ("reference" if name == "cel-python" else
                       f"{len(both) - differ:,} of {len(both):,}") + " |")
    rows += missing_rows
    rows.append("")
    rows.append(f"{len(cases):,} evaluations: {per_rule} generated values for each of the "
                f"{len(rules)} rules of the shipped schemas; best of 3. *Verdicts given*: "
                "true or false (an error, a non-bool result or, for the subset, a value it "
                "leaves to cel-python is none).")
    return rows, disagreements


def report(schema_rows: list[str], cel_rows: list[str]) -> str:
    import bench_scale

    return "\n".join([
        MARK_START,
        "## Libraries against our own fast paths",
        "",
        "Written by `python bench/bench_libraries.py` (see its docstring). Machine: "
        f"{bench_scale.machine()}.",
        "",
        "### JSON Schema: is the object valid?",
        "",
        *schema_rows,
        "",
        "### CEL rules of the shipped schemas",
        "",
        *cel_rows,
        MARK_END,
    ])


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8")
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + section + rest.split(MARK_END, 1)[1]
    elif ANCHOR in text:
        head, rest = text.split(ANCHOR, 1)
        text = head + section + "\n\n" + ANCHOR + rest
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-rule", type=int, default=400,
                        help="generated values per CEL rule (default: %(default)s)")
    parser.add_argument("--out", default=str(REPO / "docs" / "performance.md"))
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="flux-fleet-libs-") as tmp:
        objects = fleet_objects(Path(tmp))
        small = default_fleet_objects(Path(tmp))
    schema_rows, schema_differ = bench_schemas(objects)
    schema_rows += ["", *bench_one_run(small)]
    cel_rows, cel_differ = bench_cel(args.per_rule)
    section = report(schema_rows, cel_rows)
    print(section)
    if not args.no_write:
        write_section(Path(args.out), section)
    if schema_differ or cel_differ:
        print(f"disagreements: schemas {schema_differ}, CEL {cel_differ}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
