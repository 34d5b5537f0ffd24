"""The GitHub Actions workflow that builds, checks and publishes the book, and the CI script."""

import yaml
from helpers import ROOT


def test_book_workflow_builds_checks_and_deploys_pages():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    jobs = workflow["jobs"]
    build = [s.get("run", "") + s.get("uses", "") for s in jobs["build"]["steps"]]
    steps = {s.get("uses", "").split("@")[0]: s for s in jobs["build"]["steps"] if "uses" in s}
    assert any("make book" in s for s in build)
    browser = next(s for s in jobs["build"]["steps"] if "make browser-test" in s.get("run", ""))
    assert browser["env"]["ECALIB_REQUIRE_BROWSER"] == "1"
    assert any("apt-get install" in s and "chromium" in s for s in build)
    assert steps["actions/upload-pages-artifact"]["with"]["path"] == "_build/html"
    deploy = jobs["deploy"]
    assert deploy["needs"] == "build" and deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
    assert "refs/heads/main" in deploy["if"] and deploy["environment"]["name"] == "github-pages"
    assert "group" in workflow["concurrency"]
    assert any("tools/check_binder.py" in s.get("run", "") for s in jobs["binder"]["steps"])


def test_ci_runs_the_built_book_checks_after_the_book():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    order = [
        next(i for i, line in enumerate(lines) if line.startswith(cmd))
        for cmd in ("make test", "make book", "ECALIB_REQUIRE_BROWSER=1 make browser-test", "make binder-check")
    ]
    assert order == sorted(order), "CI must build the book before checking it"
    assert any("apt-get install" in line and "chromium" in line for line in lines)
