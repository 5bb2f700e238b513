"""One module per stage; each runs as `python -m durable_finetune.stages.<stage> --job JOB.json --store URI`.

A stage imports no other stage: what two stages share lives below them (durable_finetune/__init__.py)."""
