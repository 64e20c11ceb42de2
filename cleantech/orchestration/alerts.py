"""Task failure alerts: one line naming the task, run and reason; POSTed to a webhook when set."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def failure_reason(context: Mapping[str, Any]) -> str:
    """One line: which task of which run failed, and why."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    map_index = getattr(ti, "map_index", -1)
    run_id = getattr(ti, "run_id", None) or context.get("run_id", "?")
    try_number = getattr(ti, "try_number", None)
    exc = context.get("exception")
    reason = " ".join(str(exc).split()) if exc else "no exception recorded"
    if exc is not None and not str(exc).strip():
        reason = type(exc).__name__
    where = f"{dag_id}.{task_id}" + (f"[{map_index}]" if map_index not in (None, -1) else "")
    attempt = f" try {try_number}" if try_number else ""
    return f"FAILED {where} run={run_id}{attempt}: {reason[:500]}"


def on_failure(context: Mapping[str, Any]) -> None:
    """Failure callback: log a one-line reason; POST it to `CLEANTECH_ALERT_WEBHOOK` when set."""
    line = failure_reason(context)
    log.error(line)
    try:  # a task of a run killed from outside never recorded its outcome: record it now
        from cleantech.orchestration.tasks import record_killed_task

        record_killed_task(context)
    except Exception as exc:  # the alert must still go out
        log.warning("could not record the failed run: %s", " ".join(str(exc).split())[:200])
    url = os.environ.get("CLEANTECH_ALERT_WEBHOOK")
    if url:
        post_alert(url, line)


def post_alert(url: str, line: str, *, timeout: float = 10.0) -> bool:
    """POST `{"text": line}` (Slack/Teams/Mattermost-compatible) to a webhook; never raises."""
    import httpx

    try:
        resp = httpx.post(
            url,
            content=json.dumps({"text": line}),
            headers={"Content-Type": "application/json"},
            timeout=timeout,
        )
        resp.raise_for_status()
        return True
    except Exception as exc:  # an alert that fails must not hide the original failure
        log.warning("alert webhook failed: %s", " ".join(str(exc).split())[:200])
        return False
