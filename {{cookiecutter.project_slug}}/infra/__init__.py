"""The deploy tool: `python -m infra validate|plan|apply|destroy|outputs`."""
