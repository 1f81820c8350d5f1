"""The `assistant` command: a thin shell over the library. Heavy imports (torch, Chroma) happen
inside the commands that need them, so `--help` and `corpus check` start at once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

try:  # typer >= 0.29 vendors its own click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import ClickException

from .errors import AssistantError, InputError
from .settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Peer-support assistant: answers from a vetted corpus, always pointing "
                       "to human peers.")
corpus_app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                         help="Work with the corpus.")
app.add_typer(corpus_app, name="corpus")

CorpusOpt = Annotated[Path | None, typer.Option("--corpus", help="Corpus folder "
                      "(default corpus/, env ASSISTANT_CORPUS).", show_default=False)]
IndexOpt = Annotated[Path | None, typer.Option("--index", help="Index folder "
                     "(default index/, env ASSISTANT_INDEX).", show_default=False)]
RegionOpt = Annotated[str | None, typer.Option("--region", help="Region for crisis lines and "
                      "peer pointers: US, CA, UK, IE, AU, NZ or INTL (default US).")]


def _settings(corpus: Path | None, index: Path | None, **extra) -> Settings:
    return Settings.from_env().with_overrides(corpus_dir=corpus, index_dir=index, **extra)


def _emit(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}"
                         ) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {path} is not valid JSON: {exc.msg} (line {exc.lineno})"
                         ) from exc


def _read_batch(path: Path) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read batch file {path}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from exc
    requests = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{n}: not valid JSON: {exc.msg}") from exc
        if not isinstance(item, dict) or not isinstance(item.get("q"), str):
            raise InputError(f"{path}:{n}: each line needs a \"q\" string")
        requests.append({"id": item.get("id", n), "q": item["q"],
                         "history": item.get("history") or []})
    return requests


def _history(path: Path | None) -> list:
    if path is None:
        return []
    data = _read_json(path, "history file")
    if not isinstance(data, list):
        raise InputError(f"history file {path} must hold a JSON list of messages")
    from pydantic import ValidationError

    from .conversation import Message

    try:
        return [Message.model_validate(m) for m in data]
    except ValidationError as exc:
        raise InputError(f"history file {path}: each message needs a role (user or assistant) "
                         f"and content ({exc.error_count()} problem(s))") from exc


def _load_pipeline(settings: Settings):
    from .pipeline import Pipeline

    return Pipeline(settings)


@app.command()
def index(corpus: CorpusOpt = None, index: IndexOpt = None,
          strict: Annotated[bool, typer.Option(help="Fail on any invalid document.")] = False,
          force: Annotated[bool, typer.Option(help="Rebuild even if nothing changed.")] = False,
          ) -> None:
    """Build the index, or refresh it: only changed passages are embedded."""
    from .indexing import build_index
    from .query_model import ensure_assets
    from .safety import load_exemplars

    settings = _settings(corpus, index)
    report = build_index(settings, strict=strict, force=force, progress=sys.stderr.isatty())
    for warning in report.warnings:
        typer.echo(f"warning: skipped invalid document: {warning}", err=True)
    if report.up_to_date:
        typer.echo(f"Index is up to date ({report.chunk_count} passages, build "
                   f"{report.build_id}).")
    else:
        typer.echo(f"Built {report.build_id} ({report.reason}): {report.chunk_count} passages; "
                   f"{report.added_chunks} added, {report.changed_chunks} changed, "
                   f"{report.removed_chunks} removed; {report.embedded} texts embedded, "
                   f"{report.reused} reused.")
    crisis, ordinary = load_exemplars()
    assets = ensure_assets(settings, crisis + ordinary)
    if assets.exported:
        typer.echo(f"Exported the model to ONNX for fast questions in "
                   f"{assets.export_seconds:.1f} s (vectors match torch within "
                   f"{assets.max_difference:.1e}).")
    if assets.note:
        typer.echo(f"warning: {assets.note}", err=True)


@corpus_app.command("check")
def corpus_check(corpus: CorpusOpt = None, index: IndexOpt = None,
                 duplicates: Annotated[bool, typer.Option(
                     help="Look for near-duplicate passages across documents (loads the "
                          "model unless the index already has their vectors).")] = True,
                 ) -> None:
    """Validate every document and resources.yaml; exit 1 on errors."""
    from .validation import check_corpus

    settings = _settings(corpus, index)
    report = check_corpus(settings, duplicates=duplicates)
    for problem in report.problems:
        typer.echo(str(problem), err=problem.severity == "error")
    typer.echo(f"{report.documents} documents ({report.vetted} vetted), "
               f"{report.resources} resources: {len(report.errors)} error(s), "
               f"{len(report.warnings)} warning(s).")
    if report.errors:
        raise typer.Exit(1)


@app.command()
def search(question: Annotated[str | None, typer.Argument(show_default=False)] = None,
           k: Annotated[int, typer.Option("--k", min=1, max=50, help="How many hits.")] = 5,
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
           batch: Annotated[Path | None, typer.Option(help="A JSON Lines file of requests "
                            "({\"id\", \"q\"}); prints JSON Lines.")] = None,
           mode: Annotated[str, typer.Option(help="hybrid, dense or bm25.")] = "hybrid",
           corpus: CorpusOpt = None, index: IndexOpt = None) -> None:
    """Show the passages that best match a question."""
    if mode not in ("hybrid", "dense", "bm25"):
        raise InputError("--mode must be hybrid, dense or bm25")
    requests = _requests(question, batch)
    pipeline = _load_pipeline(_settings(corpus, index))
    for req in requests:
        hits = pipeline.search(req["q"], k=k, mode=mode)
        data = {"query": req["q"], "hits": [{key: h.to_json()[key] for key in (
            "doc_id", "chunk_id", "title", "section", "text", "score", "dense_rank",
            "bm25_rank")} for h in hits]}
        if batch is not None:
            _emit({"id": req["id"], **data})
        elif as_json:
            _emit(data)
        else:
            for n, h in enumerate(hits, start=1):
                typer.echo(f"{n}. {h.title} — {h.section}  [{h.chunk_id}] score={h.score:.4f} "
                           f"dense={h.dense_rank} bm25={h.bm25_rank}")
                typer.echo(f"   {h.text[:200].replace(chr(10), ' ')}")


@app.command()
def ask(question: Annotated[str | None, typer.Argument(show_default=False)] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON (with the trace).")
                           ] = False,
        history: Annotated[Path | None, typer.Option(help="A JSON list of earlier messages "
                           "({\"role\": \"user\"|\"assistant\", \"content\"}).")] = None,
        batch: Annotated[Path | None, typer.Option(help="A JSON Lines file of requests "
                         "({\"id\", \"q\", \"history\"}); prints JSON Lines.")] = None,
        region: RegionOpt = None,
        corpus: CorpusOpt = None, index: IndexOpt = None) -> None:
    """Answer a question: safety check, retrieval and a cited answer."""
    requests = _requests(question, batch)
    turns = _history(history)
    pipeline = _load_pipeline(_settings(corpus, index))
    if region and region.upper() not in pipeline.resources.codes:
        raise InputError(f"unknown region {region!r}; choose one of "
                         f"{', '.join(pipeline.resources.codes)}")
    for req in requests:
        result = pipeline.ask(req["q"], history=req["history"] or turns, region=region)
        if batch is not None:
            _emit({"id": req["id"], **result.to_json()})
        elif as_json:
            _emit(result.to_json())
        else:
            typer.echo(result.answer)


@app.command("eval")
def eval_command(
    gate: Annotated[bool, typer.Option("--gate", help="Exit 1, naming each metric below its "
                                       "bar in eval/thresholds.toml.")] = False,
    compare_with: Annotated[Path | None, typer.Option(
        "--compare", help="Another run's results.json (or its report folder), or another "
        "index folder: show what changed question by question.")] = None,
    reports: Annotated[Path | None, typer.Option(help="Where reports go (default "
                                                 "eval/reports/).")] = None,
    corpus: CorpusOpt = None, index: IndexOpt = None) -> None:
    """Measure retrieval, follow-ups, safety, answers and speed; write a report."""
    from rich.progress import Progress

    from .eval_report import compare, run_eval, write_report
    from .evaluation import EVAL_DIR

    settings = _settings(corpus, index)
    other = _load_other_results(compare_with, settings) if compare_with else None
    with Progress(transient=True) as bar:
        task = bar.add_task("Loading the model and index", total=5)

        def step(name: str) -> None:
            bar.update(task, advance=1, description=f"Evaluating {name}")

        pipeline = _load_pipeline(settings)
        results = run_eval(pipeline, progress=step)
        folder, failures = write_report(pipeline, results, reports or EVAL_DIR / "reports")
        bar.update(task, completed=5)
    data = json.loads((folder / "results.json").read_text("utf-8"))
    hybrid = data["retrieval"]["hybrid"]
    typer.echo(f"Report: {folder / 'report.md'}")
    typer.echo(f"hybrid hit@5 tune {hybrid['tune']['hit@5']:.3f} heldout "
               f"{hybrid['heldout']['hit@5']:.3f}; crisis recall tuned "
               f"{data['safety']['tuned']['crisis_recall']:.3f} heldout "
               f"{data['safety']['heldout']['crisis_recall']:.3f}; groundedness "
               f"{data['answers']['groundedness']:.3f}; peer pointers "
               f"{data['answers']['peer_pointer_rate']:.3f}")
    if other is not None:
        for line in compare(data, other):
            typer.echo(line)
    if gate:
        for failure in failures:
            typer.echo(f"gate: {failure}", err=True)
        if failures:
            raise typer.Exit(1)
        typer.echo("gate: passed")


@app.command()
def bench(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
          runs: Annotated[int, typer.Option(min=1, max=10, help="Cold-start runs.")] = 3,
          scale: Annotated[bool, typer.Option("--scale", help="Add the 100k-passage case "
                           "(several minutes).")] = False,
          corpus: CorpusOpt = None, index: IndexOpt = None) -> None:
    """Measure cold start, memory, warm latency, encoders, build and refresh, and the scale
    curve (1k and 10k synthetic passages; 100k with --scale)."""
    from .bench import run_bench, save, table

    result = run_bench(_settings(corpus, index), cold_runs=runs, scale=scale)
    path = save(result)
    if as_json:
        _emit(result)
        return
    for line in table(result):
        typer.echo(line)
    typer.echo(f"saved to {path}")


def _load_other_results(path: Path, settings: Settings) -> dict:
    """A results.json, a report folder, or an index folder to evaluate now."""
    if path.is_dir() and (path / "results.json").is_file():
        path = path / "results.json"
    if path.is_file():
        return _read_json(path, "results file")
    if path.is_dir():
        from .eval_report import run_eval

        other = _load_pipeline(settings.with_overrides(index_dir=path))
        return json.loads(json.dumps(run_eval(other).to_json()))
    raise InputError(f"nothing to compare at {path}")


def _requests(question: str | None, batch: Path | None) -> list[dict]:
    if batch is not None:
        if question:
            raise InputError("give either a QUESTION or --batch, not both")
        return _read_batch(batch)
    if question is None or not question.strip():
        raise InputError("the question is empty")
    return [{"id": None, "q": question, "history": []}]


def main() -> None:
    """Entry point: every known failure is one line on stderr, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except ClickException as exc:
        print(f"assistant: error: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except InputError as exc:
        print(f"assistant: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except AssistantError as exc:
        print(f"assistant: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
