"""Which model client answers which agent: the script's declared models, or one model for the whole run.

Clients are opened on first use (the `openai` package is slow to import, so
only when a script uses it) and closed at the end of the run, on its loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compiler import plan as p
from runtime.errors import RunFailure
from runtime.models import ModelClient, ModelError
from runtime.scripted import ScriptedModel
from runtime.turns import model_error

#: (client, model id, the model's options) for one request.
Choice = tuple[ModelClient, str, dict[str, Any]]


class Clients:
    """The model clients of one run."""

    def __init__(self, plan: p.Plan, override: ModelClient | None, override_id: str | None,
                 offline: bool = False) -> None:
        self.plan = plan
        self.offline = offline  # a replay: no client is opened, every reply comes from the record
        self.override = override
        self.override_id = override_id
        self._open: dict[str, ModelClient] = {}

    def for_agent(self, agent: p.AgentDecl) -> Choice:
        """The client, model id and sampling options an agent's requests use."""
        if self.override is not None:
            return self.override, self.override_id or "scripted", {}
        name = agent.model or self.plan.default_model
        if name is None:
            raise RunFailure("model", f"`{agent.name}` has no model: declare one (`model smart = openai(\"…\")`, "
                                      "`default model smart`) or run with --model")
        return self._declared(name)

    def for_selection(self, manager: str | None, fallback: p.AgentDecl) -> Choice:
        """The model that picks a group's next speaker: its `manager`, else the first member's model."""
        if manager is None or self.override is not None:
            return self.for_agent(fallback)
        return self._declared(manager)

    def _declared(self, name: str) -> Choice:
        decl = next(m for m in self.plan.models if m.name == name)
        options = {o.name: o.value for o in decl.options}
        if name not in self._open:
            self._open[name] = self._offline() if self.offline else self._client(decl, options)
        return self._open[name], decl.model_id or "", options

    def _client(self, decl: p.ModelDecl, options: dict[str, Any]) -> ModelClient:
        try:
            if decl.provider == "openai":
                from runtime.openai_client import OpenAIModel  # ~0.3 s to import: only when used

                return OpenAIModel(base_url=options.get("base_url"), api_key_env=options.get("api_key_env"),
                                   max_retries=int(options.get("max_retries", 2)),
                                   timeout=float(options.get("timeout", 60.0)))
            if decl.provider == "scripted":
                return ScriptedModel.from_file(Path(self.plan.file).parent / (decl.model_id or ""))
        except ModelError as error:
            raise model_error(error).located(decl.span) from None
        raise RunFailure("model", f"the `{decl.provider}()` model is not available in this version of Parley; "
                                  "run with --model scripted:RULES.json, or --model MODEL-ID for the server of "
                                  "OPENAI_BASE_URL / OPENAI_API_KEY", decl.span)

    @staticmethod
    def _offline() -> ModelClient:
        from runtime.recording import OfflineModel

        return OfflineModel()

    async def close(self) -> None:
        """Close the clients this run opened (HTTP connections), on the run's own event loop."""
        for client in self._open.values():
            close = getattr(client, "close", None)
            if close is not None:
                await close()
        self._open.clear()
