"""The runtime: executes conversation plans as agent turns (it never sees syntax trees).

`executor` interprets plan steps (`evaluate` their expressions, `conversations`
for chats and groups, `turns` for one agent's turn, `replies` for typed and
yes/no answers); `clients` picks the model client (`openai_client` for any
OpenAI-compatible server, `scripted` for deterministic rules) behind the
protocol of `models`, with `retries` and the process-wide `limits` of each server; `budget`, `events`, `store` (SQLite runs, journal and
response `cache`) and `secrets` (redaction) do the bookkeeping. `session` runs
plan after plan on one executor, for a REPL: the one door it goes through.
"""
