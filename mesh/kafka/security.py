"""How Kafka clients authenticate to the brokers and encrypt: configuration turned into the
keyword arguments every kafka-python client (producer, consumer, admin) takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mesh.config import KafkaSettings


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: KafkaSettings) -> KafkaSecurity:
        sasl = settings.kafka_security_protocol.startswith("SASL_")
        password = settings.kafka_sasl_password
        return cls(
            protocol=settings.kafka_security_protocol,
            ca_file=str(settings.kafka_ssl_ca_file) if settings.kafka_ssl_ca_file else None,
            cert_file=str(settings.kafka_ssl_cert_file) if settings.kafka_ssl_cert_file else None,
            key_file=str(settings.kafka_ssl_key_file) if settings.kafka_ssl_key_file else None,
            sasl_mechanism=settings.kafka_sasl_mechanism if sasl else None,
            sasl_username=settings.kafka_sasl_username if sasl else None,
            sasl_password=password.get_secret_value() if sasl and password else None,
        )

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol in ("SSL", "SASL_SSL"):
            options["ssl_check_hostname"] = True
            if self.ca_file:
                options["ssl_cafile"] = self.ca_file
            if self.cert_file:
                options["ssl_certfile"] = self.cert_file
                options["ssl_keyfile"] = self.key_file
        if self.sasl_mechanism:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password
        return options


PLAINTEXT = KafkaSecurity()
