"""The book's structure: every chapter has a source notebook, a profile entry and correct launch URLs."""

import sys
from pathlib import Path

import jupytext
import yaml
from helpers import ROOT, toc_docnames

sys.path.insert(0, str(ROOT / "book" / "_ext"))

import notebook_sources  # noqa: E402


def test_every_executed_chapter_has_a_notebook_and_a_profile_entry():
    profiles = yaml.safe_load((ROOT / "notebooks" / "profiles.yaml").read_text())
    executed = [f.removeprefix("book/executed/") for f in toc_docnames() if f.startswith("book/executed/")]
    assert executed, "no executed chapters in _toc.yml"
    for name in executed:
        assert (ROOT / "notebooks" / f"{name}.ipynb").exists(), name
        for profile in ("default", "smoke"):
            assert name in profiles[profile], (profile, name)
    for f in toc_docnames():
        if not f.startswith("book/executed/"):
            assert (ROOT / f"{f}.md").exists(), f


# Cell metadata that Jupyter writes for its own display state; the rest (tags above all) must match.
UI_METADATA = {"collapsed", "scrolled", "ExecuteTime", "execution", "jp-MarkdownHeadingCollapsed"}


def pair_differences(text_path: Path, notebook_path: Path) -> list[str]:
    """How a py:percent source and its paired .ipynb disagree (cell types, sources, metadata), and any outputs."""
    import jupytext
    import nbformat

    def cells(nb):
        return [
            (c.cell_type, c.source, {k: v for k, v in c.metadata.items() if k not in UI_METADATA}) for c in nb.cells
        ]

    text, nb = jupytext.read(text_path), nbformat.read(notebook_path, as_version=4)
    problems = []
    if len(cells(text)) != len(cells(nb)):
        problems.append(f"{len(text.cells)} cells in {text_path.name}, {len(nb.cells)} in {notebook_path.name}")
    for index, (a, b) in enumerate(zip(cells(text), cells(nb))):
        if a != b:
            problems.append(f"cell {index} differs: {a[1][:60]!r} vs {b[1][:60]!r}")
    if text.metadata.get("kernelspec") != nb.metadata.get("kernelspec"):
        problems.append("kernelspecs differ")
    problems += [f"cell {i} of {notebook_path.name} has outputs" for i, c in enumerate(nb.cells) if c.get("outputs")]
    return problems


def test_every_notebook_is_in_sync_with_its_text_source():
    sources = sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))
    assert sources == sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")), "a source without a notebook"
    for name in sources:
        problems = pair_differences(ROOT / "notebooks" / f"{name}.py", ROOT / "notebooks" / f"{name}.ipynb")
        assert not problems, f"run `make notebooks` ({name}): " + "; ".join(problems)
        cells = jupytext.read(ROOT / "notebooks" / f"{name}.py").cells
        assert sum("parameters" in c.metadata.get("tags", []) for c in cells) == 1, name


def test_an_edit_on_either_side_of_a_pair_is_caught(tmp_path):
    import nbformat

    source = (ROOT / "notebooks" / "complexity.py").read_text()
    notebook = nbformat.read(ROOT / "notebooks" / "complexity.ipynb", as_version=4)
    (tmp_path / "a.py").write_text(source)
    nbformat.write(notebook, tmp_path / "a.ipynb")
    assert pair_differences(tmp_path / "a.py", tmp_path / "a.ipynb") == []
    (tmp_path / "a.py").write_text(source.replace("## Official README vs measured", "## Edited"))
    assert pair_differences(tmp_path / "a.py", tmp_path / "a.ipynb")[0].startswith("cell ")
    (tmp_path / "a.py").write_text(source.replace('# %% tags=["remove-input"]', "# %%", 1))
    assert pair_differences(tmp_path / "a.py", tmp_path / "a.ipynb"), "a lost tag went unnoticed"
    (tmp_path / "a.py").write_text(source)
    notebook.cells[-1].outputs = [nbformat.v4.new_output("stream", text="x")]
    nbformat.write(notebook, tmp_path / "a.ipynb")
    last = len(notebook.cells) - 1
    assert pair_differences(tmp_path / "a.py", tmp_path / "a.ipynb") == [f"cell {last} of a.ipynb has outputs"]


def test_every_notebook_checks_the_parameters_papermill_sees_after_the_parameters_cell():
    import ast

    import nbformat
    import papermill

    from ecalib.params import PARAMETERS_CELL_HEADER, parameters_cell

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        at = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
        assert cells[at].source.startswith(PARAMETERS_CELL_HEADER), path.name  # how the check finds the cell
        calls = [n for n in ast.walk(ast.parse(cells[at + 1].source)) if isinstance(n, ast.Call)]
        assert any(ast.unparse(c.func) == "check_parameters" for c in calls), path.name
        theirs = papermill.inspect_notebook(path)
        ours = parameters_cell({"In": ["", cells[at].source, "check_parameters(globals())"]})
        assert list(ours) == list(theirs), path.name
        assert [n for n, kind in ours.items() if kind == "bool"] == [
            n for n, p in theirs.items() if p["inferred_type_name"] == "bool"
        ], path.name


def test_the_notebooks_that_train_default_to_the_librarys_results_dir():
    # The parameters cell shows its default as a literal (readers see it, papermill reads it); in the notebooks
    # that write or read generated runs it must be the folder the CLI, the tasks and the sweep use.
    import ast

    import papermill

    from ecalib.paths import DEFAULT_RESULTS_DIR

    def default(notebook: str, parameter: str):
        return ast.literal_eval(papermill.inspect_notebook(ROOT / "notebooks" / notebook)[parameter]["default"])

    names = ("cifar10", "cifar10_sweep", "imagenet", "coco_maskrcnn", "pipeline_checks")
    defaults = {name: default(f"{name}.ipynb", "results_dir") for name in names}
    assert defaults == dict.fromkeys(names, DEFAULT_RESULTS_DIR)
    assert f"{DEFAULT_RESULTS_DIR}/cifar10" in default("cifar10_compare.ipynb", "results_dirs").split(",")


def test_every_profile_names_only_parameters_its_notebook_has():
    # the notebooks refuse unknown parameters, so a stale profile entry would break `make book`
    import ast

    import nbformat

    profiles = yaml.safe_load((ROOT / "notebooks" / "profiles.yaml").read_text())
    for profile, notebooks in profiles.items():
        for name, params in notebooks.items():
            cells = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells
            cell = next(c for c in cells if "parameters" in c.metadata.get("tags", []))
            body = ast.parse(cell.source).body
            names = {n.target.id if isinstance(n, ast.AnnAssign) else n.targets[0].id for n in body}
            assert set(params or {}) <= names, (profile, name, set(params or {}) - names)


def test_launch_buttons_point_at_the_source_notebooks():
    buttons = [
        {
            "type": "group",
            "buttons": [
                {
                    "label": "Binder",
                    "url": "https://mybinder.org/v2/gh/o/r/main?urlpath=tree/book/executed/cifar10.ipynb",
                },
                {
                    "label": "Colab",
                    "url": "https://colab.research.google.com/github/o/r/blob/main/book/executed/cifar10.ipynb",
                },
            ],
        },
        {"label": "edit", "url": "https://github.com/o/r/edit/main/book/executed/cifar10.ipynb"},
        {"label": "download", "url": "../../_sources/book/executed/cifar10.ipynb"},
        {
            "label": "issue",
            "url": "https://github.com/o/r/issues/new?title=Issue%20on%20page%20%2Fbook/executed/cifar10.html",
        },
    ]
    context = {"header_buttons": buttons}
    notebook_sources._on_page(None, "book/executed/cifar10", "page.html", context, None)
    rewritten = context["header_buttons"]
    urls = [b["url"] for b in rewritten[0]["buttons"]]
    assert all(u.endswith("/notebooks/cifar10.ipynb") for u in urls), urls
    assert rewritten[1]["url"] == "https://github.com/o/r/edit/main/notebooks/cifar10.py"  # the text source
    # the download button serves the executed copy that the build puts in _sources/, and the issue names the page
    assert rewritten[2]["url"] == "../../_sources/book/executed/cifar10.ipynb"
    assert rewritten[3]["url"].endswith("%2Fbook/executed/cifar10.html")
    untouched = {"header_buttons": [{"url": "https://x/book/intro.md"}]}
    notebook_sources._on_page(None, "book/intro", "page.html", untouched, None)
    assert untouched["header_buttons"][0]["url"] == "https://x/book/intro.md"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["binderhub_url"] and config["launch_buttons"]["colab_url"]
    assert config["sphinx"]["local_extensions"]["notebook_sources"] == "book/_ext"


def reproduce_commands(page: str = "book/reproduce.md") -> list[list[str]]:
    """The shell commands in the bash blocks of ``page``, split into words (continued lines joined)."""
    import re
    import shlex

    text = (ROOT / page).read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    return [words for words in (shlex.split(line, comments=True) for line in lines) if words]


def test_every_ecalib_command_in_the_readme_parses():
    from ecalib.cli import build_parser

    commands = [c[c.index("ecalib") + 1 :] for c in reproduce_commands("README.md") if "ecalib" in c]
    assert len(commands) >= 20
    for argv in commands:
        args = build_parser().parse_args(argv)
        assert callable(args.func), argv


def test_every_ecalib_command_in_the_reproduce_page_parses():
    from ecalib.cli import build_parser

    commands = [c[c.index("ecalib") + 1 :] for c in reproduce_commands() if "ecalib" in c]
    assert len(commands) >= 20
    seen = set()
    for argv in commands:
        args = build_parser().parse_args(argv)  # SystemExit (a test failure) on any unknown subcommand or option
        assert callable(args.func), argv
        seen.add(" ".join(w for w in argv[:2] if not w.startswith("-")))
    for subcommand in (
        "complexity",
        "bench",
        "train cifar10",
        "sweep configs/sweep.yaml",
        "train imagenet",
        "evaluate",
        "coco convert-backbone",
        "coco train",
        "coco evaluate",
        "coco mmdet-train",
    ):
        assert subcommand in seen, subcommand


def test_every_papermill_command_in_the_reproduce_page_names_real_parameters():
    import papermill

    commands = [c for c in reproduce_commands() if c[0] == "papermill"]
    chapters = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert {Path(c[1]).stem for c in commands} >= chapters, "a chapter without a papermill line"
    for words in commands:
        known = papermill.inspect_notebook(ROOT / words[1])
        given = [words[i + 1] for i, w in enumerate(words) if w == "-p"]
        assert given and set(given) <= set(known), (words, sorted(known))


def test_papermill_documents_every_parameter_with_a_type_and_a_help_text():
    """`papermill --help-notebook` shows a type and a help text for every parameter of every notebook."""
    import re

    import papermill

    basic = {"str", "int", "float", "bool", "list", "dict"}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        parameters = papermill.inspect_notebook(path)
        assert parameters, path.name
        for name, p in parameters.items():
            kind = p["inferred_type_name"]
            known = kind in basic or re.fullmatch(r"(Optional\[\w+\]|Union\[[\w,]+\])", kind)
            assert known, f"{path.name}: {name} has type {kind!r} (annotate it, or `# type: Optional[int] help`)"
            assert p["help"], f"{path.name}: {name} has no help text (a trailing comment)"
            if p["default"] == "None":
                assert kind.startswith(("Optional[", "Union[")) and ("None" in kind or "Optional" in kind), name


EXPERIMENTS = ("cifar10", "cifar10_compare", "cifar10_sweep", "imagenet", "coco_maskrcnn")


def test_experiment_chapters_lead_with_the_question_and_the_evidence_and_end_with_the_smoke_run():
    import nbformat

    for name in (*EXPERIMENTS, "coco_weights", "speed", "complexity", "eca_module", "findings"):
        cells = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells
        text = "\n".join(c.source for c in cells)
        assert "SPEC" not in text, f"{name}: readers have no SPEC; cite the paper, the official repository or RC2020"
        headings = [(i, c.source.split("\n", 1)[0]) for i, c in enumerate(cells) if c.cell_type == "markdown"]
        if name not in (*EXPERIMENTS, "coco_weights", "speed"):
            continue
        first = next(c.source for c in cells if c.cell_type == "markdown")
        assert "**The question.**" in first.split("\n## ")[0], f"{name}: the opening states the question"
        run_it = [i for i, h in headings if h == "## Run it yourself"]
        assert len(run_it) == 1 and "```bash" in cells[run_it[0]].source, name
        if name not in EXPERIMENTS:
            continue
        smoke = [i for i, h in headings if h == "## Pipeline check on synthetic data"]
        assert len(smoke) == 1 and run_it[0] < smoke[0], f"{name}: run it yourself, then the pipeline check"
        assert all(not h.startswith("## ") for i, h in headings if i > smoke[0]), f"{name}: the smoke run comes last"
        tags = [c.metadata.get("tags", []) for c in cells[smoke[0] :] if c.cell_type == "code"]
        tags = [t for t in tags if "remove-cell" not in t]
        if "parameters" in tags[0]:
            assert "hide-input" in tags.pop(0), f"{name}: the parameters cell, collapsed"
        shown = [t for t in tags if not {"hide-output", "hide-cell"} & set(t)]
        assert len(shown) <= 1, f"{name}: smoke outputs not collapsed: {shown}"  # at most the plan of the run
    profiles = yaml.safe_load((ROOT / "notebooks" / "profiles.yaml").read_text())
    for profile in ("default", "smoke"):
        for name in ("cifar10", "imagenet", "coco_maskrcnn"):
            assert profiles[profile][name]["show_progress"] is False, (profile, name)  # no epoch lines in the book


def test_no_book_page_refers_to_the_internal_spec():
    for page in (ROOT / "book").glob("*.md"):
        assert "SPEC" not in page.read_text(), page.name


def test_inline_scripts_reach_each_page_once():
    import html_fixes
    from sphinx.builders.html._assets import _JavaScript

    body = 'const THEBE_JS_URL = "x"'
    scripts = [
        _JavaScript("_static/doctools.js", priority=200),
        _JavaScript(None, body=body),
        _JavaScript("_static/sphinx-thebe.js", **{"async": "async"}),
        _JavaScript("", body=body),  # Sphinx 7.4's second copy
        _JavaScript(None, body="let other = 1"),
    ]
    context = {"script_files": scripts}
    html_fixes._on_page(None, "book/intro", "page.html", context, None)
    assert context["script_files"] == [scripts[0], scripts[1], scripts[2], scripts[4]]
    assert len(scripts) == 5, "the builder's own list must stay as it is"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"]["html_fixes"] == "book/_ext"


def test_every_notebook_starts_with_the_guarded_colab_setup():
    """On Colab the first cell clones the repository and installs ecalib; elsewhere it does nothing."""
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.cell_type == "code" and "remove-cell" in first.metadata.get("tags", []), path.name
        guarded = first.source.split('if "google.colab" in sys.modules:', 1)
        assert len(guarded) == 2, f"{path.name}: the set-up is not guarded by the Colab check"
        body = guarded[1].split("\n", 1)[1]  # after the `if` line
        assert "git clone" in body and "pip install" in body and "torch.cuda.is_available()" in body, path.name
        assert all(line.startswith("    ") for line in body.strip("\n").splitlines() if line.strip()), path.name


def test_the_api_page_builds_without_warnings(tmp_path):
    """The reference page on its own, nitpicky, as `make book` builds it: a broken cross-reference fails here."""
    import subprocess

    jb = Path(sys.executable).with_name("jupyter-book")
    done = subprocess.run(
        [jb, "build", "book/api.md", "--config", "_config.yml", "--path-output", tmp_path, "-n"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    # The bibliography path is resolved against the page's folder in a one-page build; the full build finds it.
    warnings = [ln for ln in log.splitlines() if "WARNING" in ln and "references.bib" not in ln]
    assert not warnings, "\n".join(warnings)
