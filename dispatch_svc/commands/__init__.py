"""Operator commands of dispatch_svc (python -m dispatch_svc.commands.<name>)."""
