"""Monitoring a served model: its prediction logs against its training data and labels.

`logs` reads what `mlpipe serve --log-predictions` wrote; `reference` finds a registered
version's training data in the content store; `labels` joins labels collected later;
`checks` holds the drift and metric comparisons (validate's drift tests, evaluate's metrics);
`assess` puts them together for `mlpipe monitor`.
"""
