"""Configuration keys of a simulated charger (2.0.1 variables map onto 1.6 keys)."""

from __future__ import annotations

from dataclasses import dataclass, field

READ_ONLY = frozenset(
    {
        "ChargingScheduleAllowedChargingRateUnit",
        "ChargeProfileMaxStackLevel",
        "ChargingScheduleMaxPeriods",
        "MaxChargingProfilesInstalled",
        "NumberOfConnectors",
        "SupportedFeatureProfiles",
        "LocalAuthListMaxLength",
    }
)

# 2.0.1 (component, variable) -> the 1.6 key holding the same setting.
VARIABLES: dict[tuple[str, str], str] = {
    ("SmartChargingCtrlr", "RateUnit"): "ChargingScheduleAllowedChargingRateUnit",
    ("SmartChargingCtrlr", "ProfileStackLevel"): "ChargeProfileMaxStackLevel",
    ("SmartChargingCtrlr", "PeriodsPerSchedule"): "ChargingScheduleMaxPeriods",
    ("SmartChargingCtrlr", "Entries"): "MaxChargingProfilesInstalled",
    ("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
    ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval",
    ("SampledDataCtrlr", "TxUpdatedMeasurands"): "MeterValuesSampledData",
    ("LocalAuthListCtrlr", "Enabled"): "LocalAuthListEnabled",
    ("LocalAuthListCtrlr", "Entries"): "LocalAuthListMaxLength",
    ("AuthCacheCtrlr", "Enabled"): "AuthorizationCacheEnabled",
    ("AuthCtrlr", "AuthorizeRemoteStart"): "AuthorizeRemoteTxRequests",
}

MEASURANDS = "Energy.Active.Import.Register,Current.Import,Power.Active.Import,SoC"


@dataclass(slots=True)
class Settings:
    """The charger's configuration store."""

    values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def defaults(
        cls, connectors: int, rate_unit: str, meter_interval: float
    ) -> Settings:
        """A typical AC charger's keys; ``rate_unit`` is "Current", "Power" or both."""
        return cls(
            {
                "HeartbeatInterval": "300",
                "MeterValueSampleInterval": str(int(meter_interval)),
                "MeterValuesSampledData": MEASURANDS,
                "ChargingScheduleAllowedChargingRateUnit": rate_unit,
                "ChargeProfileMaxStackLevel": "8",
                "ChargingScheduleMaxPeriods": "24",
                "MaxChargingProfilesInstalled": "16",
                "NumberOfConnectors": str(connectors),
                "SupportedFeatureProfiles": (
                    "Core,SmartCharging,RemoteTrigger,LocalAuthListManagement,Reservation"
                ),
                "LocalAuthListEnabled": "true",
                "LocalAuthListMaxLength": "1000",
                "AuthorizationCacheEnabled": "true",
                "AuthorizeRemoteTxRequests": "false",
            }
        )

    def get(self, key: str) -> str | None:
        """A value, or None for an unknown key."""
        return self.values.get(key)

    def change(self, key: str, value: str) -> str:
        """Apply a change; returns the OCPP 1.6 ConfigurationStatus."""
        if key not in self.values:
            return "NotSupported"
        if key in READ_ONLY:
            return "Rejected"
        self.values[key] = value
        return "Accepted"

    def accepts_unit(self, unit: str) -> bool:
        """Whether a profile in ``unit`` ("A" or "W") is supported."""
        allowed = self.values.get("ChargingScheduleAllowedChargingRateUnit", "Current")
        wanted = "Current" if unit == "A" else "Power"
        aliases = {"A": "Current", "W": "Power"}  # 2.0.1 RateUnit spells them A / W
        names = {aliases.get(a.strip(), a.strip()) for a in allowed.split(",")}
        return wanted in names

    @property
    def flag(self) -> dict[str, bool]:
        """Boolean keys parsed."""
        return {
            k: v.lower() == "true"
            for k, v in self.values.items()
            if v in ("true", "false")
        }
