"""Experiments (Helicone's /v2/experiment, reference §2.4 and §7): prompt versions run over rows of
inputs through the gateway, their outputs scored by evaluators."""
