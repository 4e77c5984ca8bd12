"""What the Experiments pages show of an experiment: its columns (versions) with their score
aggregates, its cells (the answer of each row's newest output per version), a run's progress and the
mark that tells the live poll whether the grid changed; no routes here.

The numbers and ids are the services' own (``ExperimentService``, ``ExperimentRuns``); a cell's answer
is read from its logged request the way the request page reads one (``web/conversation.py``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heliograph.web.conversation import Message, conversation_of
from heliograph.web.evaluator_views import score_text
from heliograph.web.filter_builder import BOOLEAN_SCORE_SUFFIX
from heliograph.web.request_detail import error_text

#: A cell shows this much of its answer; the rest is behind "Show all".
PREVIEW_CHARS = 280
#: An input's value as the row's header shows it (the edit form holds it whole).
INPUT_PREVIEW_CHARS = 120
#: Request ids per query when the grid reads its cells' logged requests (an OR of ids).
IDS_PER_QUERY = 200
#: How a run's error text names the logged failed call (``runs.run_cell_job``).
_FAILED_REQUEST = re.compile(r"\s*\[request ([0-9a-f-]{36})\]")


@dataclass(frozen=True, slots=True)
class ScoreView:
    name: str  # the score key, without the boolean suffix
    boolean: bool
    mean: str  # "67% true" for a boolean, else the mean as a number
    spread: str  # "min to max", or "" for a boolean


def version_title(version: Mapping[str, Any]) -> str:
    """What a column is called: its label, else its number."""
    label = (version.get("metadata") or {}).get("label")
    return label if isinstance(label, str) and label.strip() else f"v{number_of(version)}"


def number_of(version: Mapping[str, Any]) -> str:
    return f"{version['major_version']}.{version['minor_version']}"


def score_views(scores: Mapping[str, Mapping[str, Any]]) -> list[ScoreView]:
    """A column's score aggregates (``version_scores``): booleans (stored 0/1 under
    ``<name>-hcone-bool``) as the share of true, numbers as their mean and range."""
    shown = []
    for key, score in sorted(scores.items()):
        if key.endswith(BOOLEAN_SCORE_SUFFIX):
            share = float(score["value"]) * 100
            shown.append(ScoreView(key.removesuffix(BOOLEAN_SCORE_SUFFIX), True, f"{share:.0f}% true", ""))
        else:
            spread = f"{score_text(score['min'])} \u2013 {score_text(score['max'])}"
            shown.append(ScoreView(key, False, score_text(score["value"]), spread))
    return shown


def column_views(
    versions: Sequence[Mapping[str, Any]],
    original_id: str,
    production_id: str | None,
    scores: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The grid's columns: the "Original" copy first, then the hypotheses in the service's order."""
    ordered = sorted(versions, key=lambda version: version["id"] != original_id)
    return [
        {
            "id": version["id"],
            "title": version_title(version),
            "number": number_of(version),
            "model": version.get("model") or None,
            "is_original": version["id"] == original_id,
            "is_production": version["id"] == production_id,
            "template": version.get("helicone_template"),
            "scores": score_views(scores.get(version["id"], {})),
        }
        for version in ordered
    ]


def newest_outputs(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each cell's newest output, by (row id, version id) (a row's outputs come newest first)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        for output in row["requests"]:
            found.setdefault((row["id"], output["prompt_version_id"]), output)
    return found


def answer_of(logged: Mapping[str, Any] | None) -> dict[str, Any]:
    """A cell's logged request as the cell shows it: the model's answer (text, tool calls), or the
    provider's error; ``full`` is the whole text, ``preview`` its start."""
    if logged is None:
        return _answer("", error="the logged request is not stored (it may have been deleted)")
    status = logged.get("response_status")
    failed = error_text(logged.get("response_body"))
    if failed or (isinstance(status, int) and status >= 400):
        return _answer("", error=f"Request failed ({status}): {failed or 'no answer'}")
    replies = [m for m in conversation_of(logged.get("request_body"), logged.get("response_body")) if m.reply]
    text = "\n\n".join(_message_text(message) for message in replies).strip()
    return _answer(text or "(an empty answer)")


def _answer(text: str, *, error: str | None = None) -> dict[str, Any]:
    cut = len(text) > PREVIEW_CHARS
    return {
        "full": text,
        "preview": text[:PREVIEW_CHARS].rstrip() + "\u2026" if cut else text,
        "truncated": cut,
        "error": error,
    }


def _message_text(message: Message) -> str:
    parts = list(message.texts)
    parts += [f"\u2192 {call.name}({call.arguments})" for call in message.tool_calls]
    parts += list(message.media)
    return "\n".join(parts)


def input_views(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A row's inputs as (key, shortened value) for its header."""
    shown = []
    for key, value in inputs.items():
        text = str(value)
        cut = len(text) > INPUT_PREVIEW_CHARS
        shown.append((str(key), text[:INPUT_PREVIEW_CHARS] + "\u2026" if cut else text))
    return shown


def ids_filter(request_ids: Sequence[str]) -> Any:
    """The Request API filter tree matching any of these request ids (an OR chain, which the filter
    translator flattens)."""
    leaves = [{"request_response_rmt": {"request_id": {"equals": value}}} for value in request_ids]
    tree: Any = leaves[-1]
    for leaf in reversed(leaves[:-1]):
        tree = {"left": leaf, "operator": "or", "right": tree}
    return tree


def chunks(values: Sequence[str], size: int = IDS_PER_QUERY) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def failure_of(text: str, request_id: str | None = None) -> dict[str, Any]:
    """A failure as a cell or the run's list shows it: what went wrong, and the logged failed call
    (given, or named in a run's error text) to link to."""
    found = _FAILED_REQUEST.search(text)
    return {
        "text": _FAILED_REQUEST.sub("", text).strip(),
        "request_id": request_id or (found.group(1) if found else None),
    }


def run_failures(progress: Mapping[str, Any] | None) -> dict[tuple[str, str], str]:
    """The latest run's cell errors by (row id, version id), to show in cells still empty."""
    if not progress:
        return {}
    return {
        (error["inputRecordId"], error["promptVersionId"]): str(error["error"])
        for error in progress.get("errors") or []
        if "inputRecordId" in error
    }


def grid_mark(experiment: Mapping[str, Any], progress: Mapping[str, Any] | None) -> str:
    """A short digest of what the grid shows that a run changes (its outputs, the run's counts): the
    live poll sends the grid again only when it differs from the one the page has."""
    parts = sorted(output["id"] for row in experiment["rows"] for output in row["requests"])
    if progress:
        cells, scoring = progress["cells"], progress["evaluations"]
        parts += [progress["status"], str(cells), str(scoring), str(len(progress["errors"]))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def progress_view(
    progress: Mapping[str, Any] | None,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Mapping[str, Any]],
) -> dict[str, Any] | None:
    """A run's progress as the panel shows it: the cells finished (done or failed) of all, and each
    failure placed by its row's number and its column's title."""
    if progress is None:
        return None
    cells = progress["cells"]
    numbers = {row["id"]: number for number, row in enumerate(rows, start=1)}
    titles = {column["id"]: column["title"] for column in columns}
    errors = []
    for error in progress.get("errors") or []:
        if "inputRecordId" in error:
            row = numbers.get(error["inputRecordId"])
            where = f"Row {row if row is not None else '(removed)'}, {titles.get(error['promptVersionId'], 'a removed version')}"
        else:
            where = f"Scoring request {str(error.get('requestId'))[:8]}"
        errors.append({**error, **failure_of(str(error["error"])), "where": where})
    return {
        **progress,
        "running": progress["status"] == "running",
        "finished": cells["done"] + cells["failed"],
        "errors": errors,
    }
