"""Apply every service's Alembic migrations: `python -m mesh.commands.migrate [service ...]`.

Each service owns one PostgreSQL schema and keeps its migrations in `<service>/migrations`.
"""

from __future__ import annotations

import argparse
import sys

from alembic import command
from alembic.config import Config

from mesh.config import ConfigError, DatabaseSettings, load

SERVICE_SCHEMAS = {
    "pur_svc": "pur",
    "routing_svc": "routing",
    "dispatch_svc": "dispatch",
    "attendance_adapter": "attendance",
}


class MigrateSettings(DatabaseSettings):
    """Migrations need the database only."""


def alembic_config(service: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", f"{service}:migrations")
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, services: list[str] | None = None, revision: str = "head") -> None:
    for service in services or list(SERVICE_SCHEMAS):
        command.upgrade(alembic_config(service, database_url), revision)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("services", nargs="*", help=f"any of {', '.join(SERVICE_SCHEMAS)} (default: all)")
    parser.add_argument("--revision", default="head")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.services) - set(SERVICE_SCHEMAS))
    if unknown:
        parser.error(f"unknown service(s): {', '.join(unknown)}")
    try:
        settings = load(MigrateSettings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    upgrade(settings.database_url, args.services or None, args.revision)
    print(f"migrated: {', '.join(args.services or SERVICE_SCHEMAS)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
