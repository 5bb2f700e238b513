"""durable-finetune trainer: the host agent, its stages and the store client."""
