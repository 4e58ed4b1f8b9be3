"""Shared runtime of the First Mile mesh. Services import from here; nothing here imports a service.

- Rules every service shares: `kernel` (ids, dates, text, coordinates), `errors` (error kinds,
  transport-free), `transient` (which failures a retry may fix), `paging` (page tokens).
- A use case: `unit_of_work` (one transaction; domain events become outbox rows at commit),
  `outbox` (the table and the relay to Kafka), `db`.
- Who may call: `auth` (tokens, principals), `access` (access rules, the current caller, the
  scope guard).
- gRPC: `grpc_server` (bootstrap and interceptors), `grpc_auth`, `grpc_errors` (kind -> status
  code), `grpc_handlers`, `grpc_client`, `tls`, `protobuf`.
- Kafka: `kafka` (a package: headers, producer, topics, consumer loop, dead letters), `topics`
  (the mesh's topic names).
- A process: `config`, `service` (`python -m <service>`), `runtime` (start, serve, shut down),
  `infrastructure` (the connections a service holds), `redis_client`, `logs`, `metrics`,
  `alembic_env` (the body of every service's migrations env.py).

Operator commands are apart, in `mesh.commands`.
"""
