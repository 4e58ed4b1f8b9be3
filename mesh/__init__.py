"""Shared runtime of the First Mile mesh: configuration, gRPC server bootstrap, Kafka, the
transactional outbox, database, Redis, logging and metrics. Services import from here; nothing
here imports a service."""
