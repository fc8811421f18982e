"""The runtime: executes conversation plans as agent turns (it never sees syntax trees).

So far: the model-client protocol (`runtime.models`), the OpenAI-compatible
client (`runtime.openai_client`) and the deterministic scripted model
(`runtime.scripted`). The plan executor comes next.
"""
