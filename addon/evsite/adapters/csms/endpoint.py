"""What every charger endpoint has, whatever its OCPP version."""

from __future__ import annotations

import logging
from typing import Any

from evsite.adapters.csms.handler import MessageHandler
from evsite.adapters.csms.link import Link
from evsite.adapters.csms.protocol import EndpointMixin
from evsite.adapters.csms.transactions import Transactions

WIRE_LOG = logging.getLogger("evsite.ocpp.wire")


class ChargerEndpoint(EndpointMixin):
    """Binds one connection to the shared handler; the version class follows it."""

    link: Link

    def __init__(
        self,
        charger_id: str,
        connection: Any,
        *,
        link: Link,
        handler: MessageHandler,
        response_timeout: float,
    ) -> None:
        """Bind the connection to the shared handler."""
        # The next class in the MRO is the ocpp library's ChargePoint.
        super().__init__(charger_id, connection, response_timeout, WIRE_LOG)  # type: ignore[call-arg]
        self.link = link
        self._after_tasks = set()
        self.h = handler
        self.tx = Transactions(handler)
