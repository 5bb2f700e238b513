"""One module per stage; each runs as `python -m durable_finetune.stages.<stage> --job JOB.json --store URI`."""
