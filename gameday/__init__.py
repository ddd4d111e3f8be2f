"""The automated game day: the distributed platform under steady client traffic, a real
Prometheus evaluating the project's alert rules and a real Alertmanager notifying a webhook
we run, then one fault after another (network, Secret, Pod, HPA, external API, a bad
release), each judged from the client's and the operator's view. `python -m gameday`
(`make gameday`) runs the whole of it; `tests/gameday` runs a short version."""
