"""HTTP only: ``sieve serve`` (Starlette on uvicorn, over the engine's micro-batcher) and ``sieve loadgen``.

The web stack (starlette, uvicorn, orjson, prometheus_client, aiohttp) is imported here and nowhere else, so the
window and the other commands do not load it. Modules: ``app`` (endpoints), ``model_host`` (the served model and
its state), ``metrics`` (Prometheus), ``server`` (uvicorn, signals, drain), ``loadgen`` (the load generator).
"""
