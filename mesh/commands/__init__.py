"""Operator commands, apart from the runtime the services import (`python -m mesh.commands.<name>`):

- `migrate`: apply every service's Alembic migrations;
- `topics`: create the mesh's Kafka topics and their DLQs;
- `dlq`: list and replay dead letters;
- `tokens`: mint a bearer token;
- `devsecrets`: keys, certificates and tokens for a local run.
"""
