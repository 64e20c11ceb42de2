"""PxWeb client: one interface over API v2 and v1, with limits, splitting, rate limiting, retries.

Import from the submodules: `client` (PxWebClient), `aio` (fetch_table_updated), `errors`,
`limits` (Limits), `models`, `planner`, `ratelimit`, `guard`, `v1`, `v2`.
"""
