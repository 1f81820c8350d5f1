"""What the Streamlit pages share: the pipeline, loaded once per process in the background; the
help panel with the region's crisis lines; how an answer is shown; and plain messages for
setup problems. Layout only: answers come from `Pipeline.ask`, numbers from resources.yaml."""

from __future__ import annotations

import html
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import streamlit as st
import yaml

from .contacts import ContactLink, all_links
from .errors import CorpusError, IndexMissingError, ModelError
from .export import escape_markdown, pointer_is_separate, without_sources_list
from .manifest import current_build_dir
from .resources import Region, Resources, load_resources
from .settings import Settings

if TYPE_CHECKING:
    from .pipeline import Answer, Pipeline

log = logging.getLogger(__name__)

NEUTRAL_PAGE = "https://www.bbc.com/weather"
_loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-loader")

# Colours checked for WCAG AA against their backgrounds: white on #a4161a is 7.8:1, #7a1013 on
# white 11:1, white on #1a1a1a 17:1.
CSS = """
<style>
.contacts { display: flex; flex-wrap: wrap; gap: 0.5rem; margin: 0.25rem 0 0.75rem; }
.contacts a.contact { display: flex; flex-direction: column; justify-content: center;
  min-height: 48px; padding: 0.5rem 0.9rem; border-radius: 0.5rem; border: 2px solid #a4161a;
  background: #a4161a; color: #ffffff !important; text-decoration: none !important;
  font-size: 1.3rem; font-weight: 700; line-height: 1.2; }
.contacts a.contact-text { background: #ffffff; color: #7a1013 !important; }
.contacts a.contact .contact-name { font-size: 0.85rem; font-weight: 400; }
.contacts.compact a.contact { font-size: 1.1rem; padding: 0.4rem 0.75rem; }
.contacts a.contact:focus-visible, a.quick-exit:focus-visible { outline: 3px solid #1a1a1a;
  outline-offset: 2px; }
[class*="st-key-crisis-"] { border: 2px solid #a4161a; border-left-width: 8px;
  border-radius: 0.5rem; background: #fff5f5; padding: 0.9rem 1rem; }
a.quick-exit { position: fixed; top: 0.6rem; right: 3.5rem; z-index: 1000001;
  background: #1a1a1a; color: #ffffff !important; padding: 0.45rem 0.9rem; min-height: 44px;
  display: inline-flex; align-items: center; border-radius: 0.5rem; font-weight: 700;
  text-decoration: none !important; box-shadow: 0 1px 4px rgba(0, 0, 0, 0.3); }
.st-key-starters h2 { font-size: 1.35rem; padding-top: 0.5rem; }
.st-key-mobile-help { display: none; }
@media (max-width: 767px) {
  .st-key-mobile-help { display: block; }
  [data-testid="stMainBlockContainer"] { padding-top: 4.25rem; }
  .st-key-intro h1 { font-size: 2rem; padding-bottom: 0.25rem; }
  .st-key-starters h2 { font-size: 1.15rem; padding-top: 0; }
  .st-key-intro, .st-key-mobile-help, .st-key-starters, .st-key-starter-buttons {
    gap: 0.5rem; }
  .contacts.compact a.contact { font-size: 1rem; padding: 0.3rem 0.6rem; min-height: 44px; }
  .contacts.compact a.contact .contact-name { font-size: 0.75rem; }
}
</style>
"""


def use_styles() -> None:
    st.html(CSS)


# -- the pipeline -------------------------------------------------------------------------------

def current_settings() -> Settings:
    return Settings.from_env()


@st.cache_resource(show_spinner=False, hash_funcs={Settings: repr})
def _pipeline_job(settings: Settings) -> Future:
    from .pipeline import Pipeline

    return _loader.submit(Pipeline, settings)


def start_loading(settings: Settings) -> None:
    """Begin loading the model and index in the background, so the page is never blank."""
    if index_exists(settings):
        _pipeline_job(settings)


def get_pipeline(settings: Settings) -> Pipeline:
    """The process-wide pipeline for these settings; waits if it is still loading."""
    if not index_exists(settings):  # say so at once, without loading the model first
        raise IndexMissingError(f"no index found in {settings.index_dir}; build it with "
                                "`assistant index`")
    job = _pipeline_job(settings)
    try:
        return job.result()
    except Exception:
        _pipeline_job.clear(settings)  # let the next attempt try again, e.g. after `index`
        raise


def loaded_pipeline(settings: Settings) -> Pipeline | None:
    if not index_exists(settings):
        return None
    job = _pipeline_job(settings)
    if job.done() and job.exception() is None:
        return job.result()
    return None


def forget_pipelines() -> None:
    """After the index is rebuilt: the next answer loads the new build."""
    _pipeline_job.clear()


def index_exists(settings: Settings) -> bool:
    return current_build_dir(settings.index_dir) is not None


# -- plain messages for setup problems ---------------------------------------------------------

def explain(exc: BaseException) -> tuple[str, str]:
    """(what happened, what to do), in plain words, for whoever runs the app."""
    if isinstance(exc, IndexMissingError):
        return ("The search index hasn't been built yet.",
                "Run `make run` (or `assistant index`), then reload this page.")
    if isinstance(exc, CorpusError):
        return ("The reviewed articles couldn't be loaded.",
                "Run `assistant corpus check` to see what to fix, then `assistant index`.")
    if isinstance(exc, ModelError):
        return ("The language model files couldn't be loaded.",
                "Run `make setup` to reinstall them, then reload this page.")
    if isinstance(exc, yaml.YAMLError | ValueError) and "resources" in str(exc).lower():
        return ("The list of helplines (corpus/resources.yaml) has a problem.",
                "Run `assistant corpus check` to see what to fix.")
    if isinstance(exc, OSError | ValueError):
        return ("A file the assistant needs is missing or damaged.",
                "Rebuild the index with `assistant index --force`, then reload this page.")
    return ("Something went wrong while getting the assistant ready.",
            "Rebuilding the index with `assistant index --force` often helps; the server log "
            "has the details.")


def show_problem(exc: BaseException, lead: str = "") -> None:
    what, todo = explain(exc)
    log.warning("setup problem: %s", exc, exc_info=not isinstance(exc, IndexMissingError))
    st.warning(" ".join(p for p in (lead, what, todo) if p), icon=":material/build:")
    detail = str(exc).strip().splitlines()
    if detail:
        st.caption("Details: " + escape_markdown(detail[0][:300]))


# -- help: crisis lines ------------------------------------------------------------------------

def contacts_html(links: list[ContactLink], compact: bool = False) -> str:
    """Large tappable buttons; every href comes from resources.yaml, reduced to digits."""
    esc = html.escape
    items = "".join(
        f'<a class="contact contact-{esc(link.kind)}" href="{esc(link.href)}">{esc(link.label)}'
        f'<span class="contact-name">{esc(link.name)}</span></a>' for link in links)
    return (f'<div class="contacts{" compact" if compact else ""}" role="group" '
            f'aria-label="Ways to reach a person now">{items}</div>')


def load_help(settings: Settings) -> Resources | None:
    try:
        return load_resources(settings.corpus_dir)
    except Exception as exc:  # any failure here must still leave the emergency advice on screen
        log.warning("resources.yaml could not be loaded: %s", exc)
        return None


def show_region_help(region: Region, compact: bool = False) -> None:
    links = all_links(region)
    if links:
        st.html(contacts_html(links, compact))
    if not region.emergency.number:
        st.markdown(f"**{region.emergency.note}**")
    linked = {link.name for link in links}
    for line in region.crisis_lines[:3]:
        if line.name not in linked:
            st.markdown(f"- {line.contact_line()}")


def help_sidebar(settings: Settings) -> tuple[Resources | None, Region | None]:
    """Always on screen: the selected region's emergency number and crisis lines."""
    resources = load_help(settings)
    with st.sidebar:
        st.header("Need to talk to someone now?", anchor=False)
        if resources is None:
            st.markdown("**If you or someone with you is in danger, call your local emergency "
                        "number.**")
            st.caption("The list of helplines couldn't be loaded; whoever runs this app can "
                       "run `assistant corpus check` to see why.")
            return None, None
        numbers = st.container()
        codes = resources.codes
        default = resources.region(settings.region).code
        code = st.selectbox("Your region", codes, index=codes.index(default), key="region",
                            format_func=lambda c: resources.region(c).name,
                            help="Changes the numbers shown here and in new answers.")
        region = resources.region(code)
        with numbers:
            show_region_help(region)
            hours = [f"{r.name}: {r.hours}" for r in region.crisis_lines[:3] if r.hours]
            if hours:
                st.caption("  \n".join(escape_markdown(h) for h in hours))
    return resources, region


# -- answers --------------------------------------------------------------------------------------

def _markdown(text: str) -> str:
    """Corpus Markdown as written, but a `$` is never read as the start of a formula."""
    return text.replace("$", r"\$")


def show_answer(answer: Answer, resources: Resources | None, key: str) -> None:
    """One reply as a client sees it: crisis callout first, then the cited answer, its
    sources and the pointer to a human peer."""
    if answer.crisis_block:
        with st.container(key=f"crisis-{key}"):
            if resources is not None:
                st.html(contacts_html(all_links(resources.region(answer.region))))
            st.markdown(_markdown(answer.crisis_block))
    body = without_sources_list(answer.body)
    if body:
        st.markdown(_markdown(body))
    if answer.citations:
        with st.expander(f"Sources ({len(answer.citations)})", icon=":material/menu_book:"):
            for c in answer.citations:
                section = f" — {c.section}" if c.section else ""
                st.markdown(f"**[{c.n}] {escape_markdown(c.title + section)}**")
                if c.reviewed_on:
                    st.caption(f"Reviewed on {c.reviewed_on}")
                st.markdown("\n".join(f"> {_markdown(line)}" for line in c.text.splitlines()
                                      if line.strip()))
    if pointer_is_separate(answer):
        st.markdown(_markdown(answer.peer_pointer))
