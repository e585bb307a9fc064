"""What the version classes need from the server's connection record."""

from __future__ import annotations

from typing import Protocol

from evsite.adapters.csms.protocol import LinkContext


class Link(LinkContext, Protocol):
    """A live charger connection as the ChargePoint classes see it."""

    version: str
    booted: bool
    heartbeat_interval_s: int

    def after_boot(self) -> None:
        """Boot accepted and answered: learn the charger's capabilities."""
        ...

    def monotonic(self) -> float:
        """The service's monotonic clock."""
        ...


# Sent while a charger is Pending: how soon it should boot again (OCPP 1.6
# §4.2: the interval of a Pending/Rejected BootNotification.conf).
PENDING_RETRY_S = 60

# SecurityEventNotification types that need an operator (the others are
# informational; cf. libocpp's non-critical list).
CRITICAL_SECURITY_EVENTS = frozenset(
    {
        "TamperDetectionActivated",
        "InvalidFirmwareSignature",
        "InvalidFirmwareSigningCertificate",
        "InvalidCsmsCertificate",
        "InvalidChargingStationCertificate",
        "InvalidTLSVersion",
        "InvalidTLSCipherSuite",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "MaintenanceLoginFailed",
    }
)

FAILED_FIRMWARE = frozenset(
    {
        "DownloadFailed",
        "InstallationFailed",
        "InvalidSignature",
        "InstallVerificationFailed",
    }
)
