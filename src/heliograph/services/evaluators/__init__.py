"""Evaluators (reference §2.6, §7.3): LLM-as-judge, Python in a sandbox, LastMile's metrics as built-in
judges, and deterministic checks; run on demand, on experiments and online on production traffic."""
