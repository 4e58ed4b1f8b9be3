from mesh.alembic_env import run_migrations

run_migrations(schema="routing")
