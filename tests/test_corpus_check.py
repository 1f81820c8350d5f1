"""`assistant corpus check`: the real corpus passes, and every kind of broken document or
resources.yaml is reported as a Problem naming the file, line and field, one line each, with a
non-zero exit and never a traceback.

Every test works on real files in tmp_path (mostly a private copy of the real corpus with one
file changed), through the library (`check_corpus`) and through the CLI run as a subprocess.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from assistant.corpus import Problem, count_words, load_corpus, parse_document
from assistant.resources import CRISIS_KINDS, parse_resources
from assistant.settings import PROJECT_ROOT, Settings
from assistant.validation import CheckReport, check_corpus, check_resources

REAL_CORPUS = PROJECT_ROOT / "corpus"
DOC = "sponsorship.md"  # the real document most tests break, in a private copy

REQUIRED_IDS = [
    "the-importance-of-peer-support-in-recovery", "what-is-peer-support",
    "benefits-of-peer-support", "getting-involved", "mutual-aid-groups", "twelve-step-groups",
    "smart-recovery", "secular-and-alternative-groups", "your-first-meeting",
    "finding-a-meeting", "online-and-phone-meetings", "recovery-coaches",
    "peer-recovery-specialists", "recovery-community-centers", "volunteering-and-service",
    "sponsorship", "family-and-friends", "young-people-and-recovery",
    "medication-and-peer-support", "harm-reduction-and-peer-support", "relapse-and-coming-back",
    "anonymity-and-safety", "peer-support-and-therapy", "starting-a-peer-group",
    "cost-and-access", "mental-health-peer-support", "warmlines-and-helplines",
    "co-occurring-conditions", "identity-specific-groups", "staying-connected",
]

# Phone-number-like strings: 3-3-4 groups (with -, ., space or brackets), toll-free 1-8xx
# prefixes, 7-digit local numbers, and 5+ digit runs such as text-line short codes.
PHONE = re.compile(
    r"""
      (?<![\d-])(?:\+?1[-.\s])?\(?\d{3}\)?[-.\s]\d{3}[-.\s]\d{4}(?!\d)
    | \b1[-.\s]?8(?:00|33|44|55|66|77|88)\b
    | (?<![\d-])\d{3}[-.]\d{4}(?![\d-])
    | \b\d{5,}\b
    """,
    re.X,
)

# Stigmatising words the style guide rules out (corpus/README.md), outside proper names.
STIGMA = re.compile(
    r"""\b(?:
        addicts? | junk(?:ie|y|ies) | alcoholics? | drunks? | crackheads? | druggies?
      | dope\s*fiends? | (?:substance|drug|alcohol)\s+abusers?
      | clean\s+and\s+sober
      | (?:get|gets|got|getting|stay|stays|stayed|staying|be|being|been|was|were|is|are|am)
        \s+(?:clean|dirty)
      | (?:clean|dirty)\s+(?:urine|drug\s+screens?|tests?|time|date)
    )\b""",
    re.X | re.I,
)
# Proper names (of groups and of one AA pamphlet title) that may contain those words.
PROPER_NAMES = re.compile(
    r"Alcoholics Anonymous|Narcotics Anonymous|Cocaine Anonymous|Adult Children of Alcoholics"
    r"|LGBTQ Alcoholics in A\.A\."
)

# `path[:line]: severity[ [field]]: message`, as Problem.__str__ prints it.
PROBLEM_LINE = re.compile(
    r"^(?P<path>[^\s:][^:]*?)(?::(?P<line>\d+))?: (?P<severity>error|warning)"
    r"(?: \[(?P<field>[^\]]+)\])?: (?P<message>\S.*)$"
)
SUMMARY = re.compile(
    r"^(?P<docs>\d+) documents \((?P<vetted>\d+) vetted\), (?P<resources>\d+) resources: "
    r"(?P<errors>\d+) error\(s\), (?P<warnings>\d+) warning\(s\)\.$"
)


# --- helpers -------------------------------------------------------------------------------


def settings_for(corpus_dir: Path) -> Settings:
    return Settings(corpus_dir=corpus_dir, index_dir=corpus_dir.parent / "index")


def check(corpus_dir: Path) -> CheckReport:
    return check_corpus(settings_for(corpus_dir), duplicates=False)


def line_of(path: Path, prefix: str) -> int:
    """1-based line of the first line of `path` starting with `prefix`."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(prefix):
            return n
    raise AssertionError(f"no line starting with {prefix!r} in {path}")


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def errors_in(report: CheckReport, path: str) -> list[Problem]:
    """The errors for `path`, after checking that no other file has any."""
    others = [str(p) for p in report.errors if p.path != path]
    assert others == [], f"unexpected errors elsewhere: {others}"
    return [p for p in report.errors if p.path == path]


def only_error(report: CheckReport, path: str) -> Problem:
    errors = errors_in(report, path)
    assert len(errors) == 1, [str(p) for p in errors]
    return errors[0]


def only_error_matching(report: CheckReport, text: str) -> Problem:
    found = [p for p in report.errors if text in p.message]
    assert len(found) == 1, [str(p) for p in report.errors]
    return found[0]


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> re.Match:
        last = self.stdout.splitlines()[-1]
        match = SUMMARY.match(last)
        assert match, f"no summary line: {last!r}"
        return match


def run_cli(corpus_dir: Path) -> CliRun:
    proc = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "corpus", "check", "--no-duplicates",
         "--corpus", str(corpus_dir)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_per_problem(run: CliRun) -> None:
    """Errors go to stderr and warnings to stdout, each exactly one well-formed line."""
    assert "Traceback" not in run.stderr + run.stdout
    error_lines = run.stderr.splitlines()
    warning_lines = run.stdout.splitlines()[:-1]
    for line in error_lines:
        match = PROBLEM_LINE.match(line)
        assert match and match["severity"] == "error", f"not one problem per line: {line!r}"
    for line in warning_lines:
        match = PROBLEM_LINE.match(line)
        assert match and match["severity"] == "warning", f"not one problem per line: {line!r}"
    assert len(error_lines) == int(run.summary["errors"])
    assert len(warning_lines) == int(run.summary["warnings"])


def assert_cli_reports(corpus_dir: Path, *problems: Problem) -> CliRun:
    """The CLI exits 1, with each given error printed as one line on stderr."""
    run = run_cli(corpus_dir)
    assert run.code == 1, (run.stdout, run.stderr)
    assert_one_line_per_problem(run)
    for problem in problems:
        assert str(problem) in run.stderr.splitlines()
    return run


def sample_body(words: int, sections: int = 2) -> str:
    """Plain, non-stigmatising Markdown of about `words` words split into `##` sections."""
    sentence = ("Peers share what helped them and listen without judging, so a newcomer can "
                "find hope and a next step. ")
    per = count_words(sentence)
    count = max(1, words // per)
    parts, per_section = [], max(1, count // sections)
    for s in range(sections):
        n = per_section if s < sections - 1 else count - per_section * (sections - 1)
        parts.append(f"## Section {s + 1}\n\n{sentence * max(n, 0)}".rstrip() + "\n")
    return "\n".join(parts)


def write_doc(corpus_dir: Path, doc_id: str, body: str, **changes: object) -> Path:
    """A valid document (until `changes` break it) written to `<corpus_dir>/<doc_id>.md`."""
    today = dt.date.today()
    fields: dict[str, object] = {
        "id": doc_id,
        "title": "A document written by the tests",
        "summary": "A short document the test suite writes to exercise the validator.",
        "topics": ["testing"],
        "audience": "everyone",
        "origin": "written-for-project",
        "references": [{"organisation": "Test Organisation", "page": "Test page"}],
        "status": "vetted",
        "reviewed_on": today - dt.timedelta(days=10),
        "review_due": today + dt.timedelta(days=365),
    }
    fields.update(changes)
    front = yaml.safe_dump(fields, sort_keys=False, allow_unicode=True)
    path = corpus_dir / f"{doc_id}.md"
    path.write_text(f"---\n{front}---\n\n{body}", encoding="utf-8")
    return path


def real_resources() -> dict:
    return yaml.safe_load((REAL_CORPUS / "resources.yaml").read_text(encoding="utf-8"))


# --- the real corpus -----------------------------------------------------------------------


def test_real_corpus_has_no_errors():
    report = check(REAL_CORPUS)
    assert report.errors == [], [str(p) for p in report.errors]
    assert report.documents == report.vetted >= 30
    assert report.resources > 0


def test_real_corpus_check_cli_exits_zero():
    run = run_cli(Path("corpus"))  # relative to cwd=PROJECT_ROOT, as the brief runs it
    assert run.code == 0, (run.stdout, run.stderr)
    assert run.stderr == ""
    assert_one_line_per_problem(run)
    assert int(run.summary["errors"]) == 0
    assert int(run.summary["vetted"]) >= 30


def test_real_corpus_has_at_least_30_vetted_documents_with_the_required_ids():
    corpus = load_corpus(REAL_CORPUS)
    assert corpus.errors == []
    vetted = {d.id for d in corpus.vetted}
    assert len(vetted) >= 30
    assert sorted(set(REQUIRED_IDS) - vetted) == []


REAL_DOCS = sorted(p for p in REAL_CORPUS.glob("*.md") if p.name.lower() != "readme.md")


def _real_doc(path: Path):
    doc, problems = parse_document(path, REAL_CORPUS)
    assert doc is not None and problems == [], [str(p) for p in problems]
    return doc


@pytest.mark.parametrize("path", REAL_DOCS, ids=lambda p: p.stem)
def test_real_document_body_is_300_to_900_words_in_sections(path):
    doc = _real_doc(path)
    assert 300 <= count_words(doc.body) <= 900
    assert len(re.findall(r"^## \S", doc.body, flags=re.M)) >= 2


@pytest.mark.parametrize("path", REAL_DOCS, ids=lambda p: p.stem)
def test_real_document_has_no_phone_numbers(path):
    doc = _real_doc(path)
    assert PHONE.findall(doc.body) == []


@pytest.mark.parametrize("path", REAL_DOCS, ids=lambda p: p.stem)
def test_real_document_has_no_stigmatising_words(path):
    doc = _real_doc(path)
    text = PROPER_NAMES.sub("", doc.body)
    found = [m.group(0) for m in STIGMA.finditer(text)]
    assert found == []


@pytest.mark.parametrize("text", [
    "call 1-800-662-4357", "(800) 662-4357", "800.662.4357", "1 800 273 8255",
    "call 1-888-HELPNOW", "text HOME to 741741", "ring 555-1234", "+1 800 662 4357",
])
def test_phone_pattern_catches_phone_like_strings(text):
    assert PHONE.search(text)


@pytest.mark.parametrize("text", [
    "AA began in 1935.", "the 12-step groups", "reviewed on 2026-11-25", "Step 3 of 12",
])
def test_phone_pattern_ignores_years_and_step_numbers(text):
    assert not PHONE.search(text)


@pytest.mark.parametrize("text", [
    "He was an addict.", "junkies", "clean and sober", "she stayed clean", "a dirty urine",
    "alcoholics", "Drug abusers",
])
def test_stigma_pattern_catches_stigmatising_words(text):
    assert STIGMA.search(PROPER_NAMES.sub("", text))


@pytest.mark.parametrize("text", [
    "Alcoholics Anonymous (AA)", "Narcotics Anonymous", "Cocaine Anonymous",
    "a person with a substance use disorder", "addiction", "cleaning up after the meeting",
])
def test_stigma_pattern_allows_proper_names_and_person_first_language(text):
    assert not STIGMA.search(PROPER_NAMES.sub("", text))


# --- files that cannot be parsed -----------------------------------------------------------


def test_unclosed_front_matter_is_an_error_on_line_1(corpus_copy):
    path = corpus_copy / DOC
    closing = line_of(path, "review_due:") + 1
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[closing - 1] == "---\n"
    del lines[closing - 1]
    path.write_text("".join(lines), encoding="utf-8")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.line == 1
    assert "not closed" in problem.message
    assert_cli_reports(corpus_copy, problem)


def test_missing_front_matter_is_an_error_on_line_1(corpus_copy):
    path = corpus_copy / DOC
    path.write_text("# Sponsorship\n\n" + sample_body(400), encoding="utf-8")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.line == 1
    assert "missing front matter" in problem.message
    assert_cli_reports(corpus_copy, problem)


def test_front_matter_that_is_not_a_mapping_is_an_error(corpus_copy):
    (corpus_copy / DOC).write_text("---\n- id\n- title\n---\n\n" + sample_body(400),
                                   encoding="utf-8")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.line == 2
    assert "must be a mapping" in problem.message
    assert_cli_reports(corpus_copy, problem)


def test_invalid_yaml_in_front_matter_is_an_error_with_its_line(corpus_copy):
    path = corpus_copy / DOC
    line = line_of(path, "summary:")
    replace_once(path, "\nsummary: ", "\nsummary: oops: a second colon ")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.line == line
    assert "not valid YAML" in problem.message
    assert_cli_reports(corpus_copy, problem)


def test_binary_file_with_nul_bytes_is_an_error(corpus_copy):
    (corpus_copy / DOC).write_bytes(b"---\n" + bytes(range(256)) * 8)

    problem = only_error(check(corpus_copy), DOC)
    assert "binary" in problem.message
    assert_cli_reports(corpus_copy, problem)


def test_non_utf8_file_is_an_error_with_the_line_of_the_bad_byte(corpus_copy):
    path = corpus_copy / DOC
    line = line_of(path, "title:")
    raw = path.read_bytes()
    assert raw.count(b"\ntitle: ") == 1
    path.write_bytes(raw.replace(b"\ntitle: ", b"\ntitle: Caf\xe9 ", 1))  # latin-1 e-acute

    problem = only_error(check(corpus_copy), DOC)
    assert problem.line == line
    assert "not valid UTF-8" in problem.message
    assert_cli_reports(corpus_copy, problem)


# --- the front matter schema ---------------------------------------------------------------


def test_missing_required_field_is_an_error_naming_the_field(corpus_copy):
    path = corpus_copy / DOC
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(x for x in lines if not x.startswith("summary:")), encoding="utf-8")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.field == "summary"
    assert problem.line is None  # the field has no line to point at
    assert "required" in problem.message.lower()
    assert_cli_reports(corpus_copy, problem)


def test_unknown_field_is_an_error_naming_the_field_and_line(corpus_copy):
    path = corpus_copy / DOC
    replace_once(path, "\naudience: newcomer\n", "\naudience: newcomer\nmood: hopeful\n")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.field == "mood"
    assert problem.line == line_of(path, "mood:")
    assert_cli_reports(corpus_copy, problem)


def test_bad_audience_is_an_error_naming_the_field_and_line(corpus_copy):
    path = corpus_copy / DOC
    replace_once(path, "\naudience: newcomer\n", "\naudience: experts\n")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.field == "audience"
    assert problem.line == line_of(path, "audience:")
    assert "newcomer" in problem.message  # names the allowed values
    assert_cli_reports(corpus_copy, problem)


def test_date_that_is_not_a_date_is_an_error_naming_the_field_and_line(corpus_copy):
    path = corpus_copy / DOC
    replace_once(path, "\nreviewed_on: 2026-11-25\n", "\nreviewed_on: last spring\n")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.field == "reviewed_on"
    assert problem.line == line_of(path, "reviewed_on:")
    assert_cli_reports(corpus_copy, problem)


def test_impossible_calendar_date_is_an_error_not_a_crash(corpus_copy):
    path = corpus_copy / DOC
    replace_once(path, "\nreviewed_on: 2026-11-25\n", "\nreviewed_on: 2026-02-30\n")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.field == "reviewed_on"
    assert problem.line == line_of(path, "reviewed_on:")


def test_cli_reports_impossible_calendar_date_without_traceback(corpus_copy):
    replace_once(corpus_copy / DOC, "\nreviewed_on: 2026-11-25\n", "\nreviewed_on: 2026-02-30\n")

    run = run_cli(corpus_copy)
    assert "Traceback" not in run.stderr
    assert run.code == 1
    assert any(line.startswith(f"{DOC}:") and "[reviewed_on]" in line
               for line in run.stderr.splitlines())


def test_review_due_before_reviewed_on_is_an_error(corpus_copy):
    path = corpus_copy / DOC
    replace_once(path, "\nreview_due: 2027-11-25\n", "\nreview_due: 2026-01-01\n")

    problem = only_error(check(corpus_copy), DOC)
    assert "review_due must be after reviewed_on" in problem.message
    assert_cli_reports(corpus_copy, problem)


def test_review_due_before_reviewed_on_names_the_field_and_line(corpus_copy):
    path = corpus_copy / DOC
    replace_once(path, "\nreview_due: 2027-11-25\n", "\nreview_due: 2026-01-01\n")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.field == "review_due"
    assert problem.line == line_of(path, "review_due:")


def test_id_not_matching_the_file_name_is_an_error_on_the_id_line(corpus_copy):
    path = corpus_copy / DOC
    replace_once(path, "\nid: sponsorship\n", "\nid: sponsors\n")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.field == "id"
    assert problem.line == line_of(path, "id:")
    assert "'sponsors'" in problem.message and "'sponsorship'" in problem.message
    assert_cli_reports(corpus_copy, problem)


def test_duplicate_ids_across_two_files_are_an_error_naming_both(corpus_copy):
    copy = corpus_copy / "sponsorship-copy.md"
    shutil.copy(corpus_copy / DOC, copy)

    report = check(corpus_copy)
    others = [str(p) for p in report.errors if p.path not in (DOC, copy.name)]
    assert others == []
    duplicates = [p for p in report.errors if "duplicate id" in p.message]
    assert len(duplicates) == 1
    duplicate = duplicates[0]
    assert duplicate.field == "id"
    assert "'sponsorship'" in duplicate.message
    assert {duplicate.path, *re.findall(r"also in (\S+?)\)", duplicate.message)} == {
        DOC, copy.name}
    mismatch = only_error_matching(report, "does not match")
    assert (mismatch.path, mismatch.field) == (copy.name, "id")
    assert mismatch.line == line_of(copy, "id:")
    assert len(report.errors) == 2
    assert report.documents == len(REAL_DOCS)  # one of the two is dropped
    assert_cli_reports(corpus_copy, duplicate, mismatch)


# --- the body ------------------------------------------------------------------------------


def test_empty_body_is_an_error(corpus_copy):
    path = corpus_copy / DOC
    closing = line_of(path, "review_due:") + 1
    text = path.read_text(encoding="utf-8")
    path.write_text("".join(text.splitlines(keepends=True)[:closing]), encoding="utf-8")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.field == "body"
    assert "empty (0 words)" in problem.message
    assert problem.line == closing + 1  # where the body would start
    assert_cli_reports(corpus_copy, problem)


def test_nearly_empty_body_is_an_error_on_its_first_line(corpus_copy):
    path = corpus_copy / DOC
    closing = line_of(path, "review_due:") + 1
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)[:closing]
    path.write_text("".join(lines) + "\n## To do\n\nWrite this page.\n", encoding="utf-8")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.field == "body"
    assert "empty" in problem.message
    assert problem.line == line_of(path, "## To do")
    assert_cli_reports(corpus_copy, problem)


def test_oversized_body_is_an_error(corpus_copy):
    path = write_doc(corpus_copy, "very-long-page", sample_body(3200, sections=8))

    problem = only_error(check(corpus_copy), path.name)
    assert problem.field == "body"
    assert "oversized" in problem.message
    assert problem.line == line_of(path, "## Section 1")
    assert_cli_reports(corpus_copy, problem)


def test_body_outside_300_to_900_words_is_only_a_warning(corpus_copy):
    write_doc(corpus_copy, "short-page", sample_body(150))

    report = check(corpus_copy)
    assert report.errors == []
    warning = next(p for p in report.warnings if p.path == "short-page.md")
    assert warning.field == "body" and "300-900" in warning.message
    run = run_cli(corpus_copy)
    assert run.code == 0
    assert_one_line_per_problem(run)
    assert str(warning) in run.stdout.splitlines()


def test_overdue_review_is_only_a_warning_and_exits_zero(corpus_copy):
    path = corpus_copy / DOC
    replace_once(path, "\nreviewed_on: 2026-11-25\n", "\nreviewed_on: 2020-01-01\n")
    replace_once(path, "\nreview_due: 2027-11-25\n", "\nreview_due: 2021-01-01\n")

    report = check(corpus_copy)
    assert report.errors == []
    warning = next(p for p in report.warnings if p.path == DOC)
    assert warning.field == "review_due"
    assert "overdue since 2021-01-01" in warning.message
    run = run_cli(corpus_copy)
    assert run.code == 0, run.stderr
    assert_one_line_per_problem(run)
    assert str(warning) in run.stdout.splitlines()


def test_broken_relative_link_is_an_error_on_its_line(corpus_copy):
    path = corpus_copy / DOC
    replace_once(path, "\n## Changing sponsors\n",
                 "\n## Changing sponsors\n\nSee [the old page](no-such-page.md) too.\n")

    problem = only_error(check(corpus_copy), DOC)
    assert problem.field == "body"
    assert problem.line == line_of(path, "See [the old page]")
    assert "no-such-page.md" in problem.message
    assert_cli_reports(corpus_copy, problem)


def test_relative_link_to_another_corpus_document_is_fine(corpus_copy):
    replace_once(corpus_copy / DOC, "\n## Changing sponsors\n",
                 "\n## Changing sponsors\n\nSee [twelve-step groups](twelve-step-groups.md).\n")

    assert check(corpus_copy).errors == []


def test_broken_anchor_link_is_an_error_on_its_line(corpus_copy):
    path = corpus_copy / DOC
    replace_once(path, "\n## Changing sponsors\n",
                 "\n## Changing sponsors\n\nRead [this](#no-such-heading) and "
                 "[that](#what-is-a-sponsor).\n")

    problem = only_error(check(corpus_copy), DOC)  # #what-is-a-sponsor is a real heading
    assert problem.field == "body"
    assert problem.line == line_of(path, "Read [this]")
    assert "#no-such-heading" in problem.message
    assert_cli_reports(corpus_copy, problem)


def test_draft_document_is_loaded_but_not_counted_as_vetted(corpus_copy):
    write_doc(corpus_copy, "draft-notes", sample_body(400), status="draft")

    corpus = load_corpus(corpus_copy)
    draft = corpus.get("draft-notes")
    assert draft is not None and draft.meta.status == "draft"
    assert "draft-notes" not in {d.id for d in corpus.vetted}
    report = check(corpus_copy)
    assert report.errors == []
    assert report.documents == len(REAL_DOCS) + 1
    assert report.vetted == len(REAL_DOCS)
    run = run_cli(corpus_copy)
    assert run.code == 0
    assert int(run.summary["docs"]) == len(REAL_DOCS) + 1
    assert int(run.summary["vetted"]) == len(REAL_DOCS)


def test_missing_corpus_folder_is_an_error_not_a_crash(tmp_path):
    missing = tmp_path / "no-corpus"
    report = check(missing)
    assert any("corpus folder not found" in p.message and p.path == str(missing)
               for p in report.errors)
    run = run_cli(missing)
    assert run.code == 1
    assert_one_line_per_problem(run)


# --- resources.yaml ------------------------------------------------------------------------


def test_real_resources_file_is_valid():
    problems, count = check_resources(REAL_CORPUS, dt.date.today())
    assert [p for p in problems if p.severity == "error"] == []
    resources = parse_resources(REAL_CORPUS / "resources.yaml")
    assert count == sum(len(r.resources) for r in resources.regions) > 0
    ids = [res.id for region in resources.regions for res in region.resources]
    assert len(ids) == len(set(ids))
    for region in resources.regions:
        assert region.crisis_lines, region.code
        for res in region.resources:
            assert res.sources, res.id


def test_missing_resources_file_is_an_error(corpus_copy):
    (corpus_copy / "resources.yaml").unlink()

    problem = only_error(check(corpus_copy), "resources.yaml")
    assert "missing" in problem.message
    assert_cli_reports(corpus_copy, problem)


def test_unparseable_resources_file_is_an_error_with_its_line(corpus_copy):
    path = corpus_copy / "resources.yaml"
    line = line_of(path, "default_region:")
    replace_once(path, "\ndefault_region: US\n", "\n\tdefault_region: US\n")

    problem = only_error(check(corpus_copy), "resources.yaml")
    assert "not valid YAML" in problem.message
    assert problem.line == line
    assert_cli_reports(corpus_copy, problem)


def test_resources_file_with_a_control_character_is_a_one_line_error(corpus_copy):
    path = corpus_copy / "resources.yaml"
    replace_once(path, "\ndefault_region: US\n", "\ndefault_region: US\x07\n")

    problem = only_error(check(corpus_copy), "resources.yaml")
    assert "\n" not in str(problem)
    assert_cli_reports(corpus_copy, problem)


def test_impossible_date_in_resources_file_is_an_error_not_a_crash(corpus_copy):
    replace_once(corpus_copy / "resources.yaml", "\nreviewed_on: 2026-11-25\n",
                 "\nreviewed_on: 2026-11-31\n")

    problem = only_error(check(corpus_copy), "resources.yaml")
    assert problem.field == "reviewed_on"


def _write_resources(corpus_dir: Path, data: dict) -> None:
    (corpus_dir / "resources.yaml").write_text(
        yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_region_without_a_crisis_line_is_an_error_naming_the_region(corpus_copy):
    data = real_resources()
    index, region = next((i, r) for i, r in enumerate(data["regions"])
                         if any(x["kind"] not in (*CRISIS_KINDS, "directory")
                                for x in r["resources"]))
    region["resources"] = [x for x in region["resources"]
                           if x["kind"] not in (*CRISIS_KINDS, "directory")]
    _write_resources(corpus_copy, data)

    problem = only_error(check(corpus_copy), "resources.yaml")
    assert problem.field == f"regions.{index}"
    assert f"region {region['code']} has no crisis line" in problem.message
    assert_cli_reports(corpus_copy, problem)


def test_duplicate_resource_id_is_an_error_naming_the_id(corpus_copy):
    data = real_resources()
    first_id = data["regions"][0]["resources"][0]["id"]
    data["regions"][1]["resources"][0]["id"] = first_id
    _write_resources(corpus_copy, data)

    problem = only_error(check(corpus_copy), "resources.yaml")
    assert f"resource ids must be unique: {first_id}" in problem.message
    assert_cli_reports(corpus_copy, problem)


# --- near-duplicate passages (the real embedding model) ------------------------------------

DUPLICATE_DOCS = ("mental-health-peer-support.md", "medication-and-peer-support.md",
                  "sponsorship.md", "twelve-step-groups.md")


def _copy_section(source: Path, heading: str, target: Path) -> str:
    """Append the one-paragraph `## heading` section of `source` to `target`, verbatim."""
    match = re.search(rf"^## {re.escape(heading)}\n\n(.+?)\n", source.read_text("utf-8"), re.M)
    assert match, heading
    paragraph = match.group(1)
    assert count_words(paragraph) >= 40
    text = target.read_text(encoding="utf-8").rstrip("\n")
    target.write_text(f"{text}\n\n## {heading}\n\n{paragraph}\n", encoding="utf-8")
    return paragraph


@pytest.fixture(scope="module")
def duplicate_report(tmp_path_factory) -> CheckReport:
    """One near-duplicate check (it loads the model itself) over a corpus copy of four real
    documents, with two sections pasted from one document into another."""
    root = tmp_path_factory.mktemp("near-duplicates")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in (*DUPLICATE_DOCS, "resources.yaml"):
        shutil.copy(REAL_CORPUS / name, corpus / name)
    _copy_section(corpus / "mental-health-peer-support.md",
                  "Depression and Bipolar Support Alliance (DBSA) groups",
                  corpus / "medication-and-peer-support.md")
    _copy_section(corpus / "sponsorship.md", "Changing sponsors",
                  corpus / "twelve-step-groups.md")
    return check_corpus(Settings(corpus_dir=corpus, index_dir=root / "index"), duplicates=True)


def _duplicate_warnings(report: CheckReport, a: str, b: str) -> list[Problem]:
    """Near-duplicate problems filed under one of `a`, `b` and naming the other."""
    return [p for p in report.problems
            if "near-duplicate" in p.message and p.path in (a, b)
            and (b if p.path == a else a) in p.message]


def test_copied_passage_is_a_near_duplicate_warning_naming_both_files(duplicate_report):
    assert duplicate_report.errors == []
    found = _duplicate_warnings(duplicate_report, "mental-health-peer-support.md",
                                "medication-and-peer-support.md")
    assert found, [str(p) for p in duplicate_report.problems]
    for problem in found:
        assert problem.severity == "warning"
        assert problem.field == "body"
        assert "Depression and Bipolar Support Alliance (DBSA) groups" in problem.message
        assert "\n" not in str(problem)


def test_verbatim_copy_into_a_differently_titled_document_is_reported(duplicate_report):
    assert _duplicate_warnings(duplicate_report, "sponsorship.md", "twelve-step-groups.md")
