"""Any OpenAI-compatible server (OpenAI, Azure, vLLM, Ollama, llama.cpp, LM Studio) through `openai.AsyncOpenAI`.

The client's own retries (with backoff, honouring `Retry-After`) and
timeouts are used as they are, configured, not rewritten; what still fails
becomes one `ModelError` whose message says what to do.
"""

from __future__ import annotations

import json
import os
from typing import Any

import openai

from parley.runtime.models import Message, ModelError, ModelReply, ModelRequest, TokenSink, ToolCall, Usage

#: Placeholder key for servers that want none (a local llama.cpp, Ollama, vLLM).
_NO_KEY = "no-key-needed"


class OpenAIModel:
    """A model on an OpenAI-compatible server."""

    provider = "openai"  # as OpenTelemetry's `gen_ai.provider.name` says it

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        max_retries: int = 2,
        timeout: float = 60.0,
    ) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        if api_key_env:  # a named variable is the only source: never send another provider's key
            key = api_key or os.environ.get(api_key_env) or None
            if key is None and base_url is None:
                raise ModelError("auth", f"no API key: the model's `api_key_env` names {api_key_env}, which is not set")
        else:
            key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if not key and base_url is None:
            raise ModelError(
                "auth",
                "no API key: set OPENAI_API_KEY (or the variable named by `api_key_env`), "
                "or point `base_url` / OPENAI_BASE_URL at a local OpenAI-compatible server",
            )
        self.base_url = base_url
        self._client = openai.AsyncOpenAI(
            api_key=key or _NO_KEY, base_url=base_url, max_retries=max_retries, timeout=timeout
        )

    async def complete(self, request: ModelRequest, on_token: TokenSink | None = None) -> ModelReply:
        """One chat completion; streamed to `on_token` when given."""
        arguments = _arguments(request)
        try:
            if on_token is None:
                response = await self._client.chat.completions.create(**arguments)
                reply = _reply(response)
            else:
                reply = await self._stream(arguments, on_token)
        except openai.APIError as error:
            raise _explain(error, self.base_url) from None
        except json.JSONDecodeError:
            raise ModelError("bad_reply", f"the model server at {self.base_url or 'the OpenAI API'} answered with "
                                          "something that is not JSON: is the URL right (it usually ends in /v1)?") from None
        if reply.finish_reason == "content_filter":
            raise ModelError("content_filter", "the server's content filter stopped the reply")
        return reply

    async def close(self) -> None:
        await self._client.close()

    async def _stream(self, arguments: dict[str, Any], on_token: TokenSink) -> ModelReply:
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage = Usage()
        finish = "stop"
        model = arguments["model"]
        stream = await self._client.chat.completions.create(
            **arguments, stream=True, stream_options={"include_usage": True}
        )
        chunks = 0
        async with stream:  # closed at once, even when on_token raises or the task is cancelled
            async for chunk in stream:
                chunks += 1
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = Usage(prompt_tokens=chunk.usage.prompt_tokens or 0,
                                  completion_tokens=chunk.usage.completion_tokens or 0)
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        text.append(delta.content)
                        on_token(delta.content)
                    for call in delta.tool_calls or ():
                        slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                        slot["id"] = call.id or slot["id"]
                        if call.function is not None:
                            slot["name"] += call.function.name or ""
                            slot["arguments"] += call.function.arguments or ""
                    if choice.finish_reason:
                        finish = choice.finish_reason
        if not chunks:
            raise ModelError("bad_reply", "the server answered a streamed request with no stream events: "
                                          "is the URL right, and does the server support streaming?")
        tool_calls = tuple(
            ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments=slot["arguments"])
            for index, slot in sorted(calls.items())
        )
        return ModelReply(text="".join(text), tool_calls=tool_calls, usage=usage, model=model, finish_reason=finish)


def _arguments(request: ModelRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = {"model": request.model, "messages": [_message(m) for m in request.messages]}
    if request.tools:
        arguments["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in request.tools
        ]
        if request.tool_choice is not None:
            arguments["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice}}
    if request.response_format is not None:
        arguments["response_format"] = request.response_format
    for name in ("temperature", "top_p", "max_tokens", "seed"):
        value = getattr(request, name)
        if value is not None:
            arguments[name] = value
    return arguments


def _message(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name is not None and message.role in ("user", "assistant"):
        data["name"] = message.name
    if message.tool_calls:
        data["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        data["tool_call_id"] = message.tool_call_id
    return data


def _reply(response: Any) -> ModelReply:
    if not getattr(response, "choices", None):
        raise ModelError("bad_reply", "the server sent a reply with no choices: is the URL right (it usually ends in /v1)?")
    choice = response.choices[0]
    if getattr(choice, "message", None) is None:
        raise ModelError("bad_reply", "the server sent a choice with no message")
    calls = tuple(
        ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "")
        for c in (choice.message.tool_calls or ())
        if getattr(c, "function", None) is not None
    )
    usage = Usage(
        prompt_tokens=getattr(response.usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(response.usage, "completion_tokens", 0) or 0,
    )
    return ModelReply(
        text=choice.message.content or "", tool_calls=calls, usage=usage, model=response.model or "",
        finish_reason=choice.finish_reason or "stop",
    )


def _explain(error: openai.APIError, base_url: str | None) -> ModelError:
    """One clear message per way a request can fail (never including the key)."""
    where = base_url or "the OpenAI API"
    if isinstance(error, openai.APITimeoutError):
        return ModelError("timeout", f"the model server at {where} did not answer in time (after retries)")
    if isinstance(error, openai.APIConnectionError):
        return ModelError("unreachable", f"cannot reach the model server at {where}: is it running, and is the URL right?")
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelError("auth", f"the model server at {where} refused the API key (HTTP {error.status_code}); "
                                  "check OPENAI_API_KEY or the model's `api_key_env`")
    if isinstance(error, openai.RateLimitError):
        return ModelError("rate_limit", f"the model server at {where} kept answering 429 (rate limit) after retries; "
                                        "wait, or lower the request rate")
    if isinstance(error, openai.NotFoundError):
        return ModelError("bad_request", f"the model server at {where} does not know this model or endpoint "
                                         f"(HTTP 404): {_detail(error)}")
    if isinstance(error, openai.BadRequestError):
        detail = _detail(error)
        if _is_context_overflow(error, detail):
            return ModelError("context_length", f"the conversation is too long for the model: {detail}; "
                                                "lower the agent's `memory` or use a model with a larger context")
        return ModelError("bad_request", f"the model server rejected the request (HTTP 400): {detail}")
    if isinstance(error, openai.APIStatusError) and error.status_code < 500:
        return ModelError("bad_request", f"the model server rejected the request (HTTP {error.status_code}): "
                                         f"{_detail(error)}")
    if isinstance(error, openai.APIStatusError):
        return ModelError("server", f"the model server at {where} failed (HTTP {error.status_code}) after retries")
    return ModelError("bad_reply", f"unexpected answer from the model server at {where}: {error}")


def _is_context_overflow(error: openai.APIError, detail: str) -> bool:
    """OpenAI's `context_length_exceeded` code, llama.cpp's `exceed_context_size_error`, or the words for it."""
    body = error.body if isinstance(error.body, dict) else {}
    codes = f"{body.get('code') or ''} {body.get('type') or ''}".lower()
    text = detail.lower()
    return ("context_length" in codes or "exceed_context" in codes
            or ("context" in text and any(word in text for word in ("length", "window", "size"))))


def _detail(error: openai.APIError) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return str(getattr(error, "message", "") or error)
