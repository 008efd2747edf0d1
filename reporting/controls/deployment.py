"""The deployment a report describes: its producers, their hours, calendars and inventory.

Some checks judge the evidence against facts about the deployment that no mapping can
know: when each agent works, which agents hold a conversation, whose chains stay open by
design, what each agent may run. There are no shipped defaults for them; a configuration
file states them once, per producer, in its `deployment` section, and they become the
parameters of every check that uses them, in every framework (`check_parameters`). A
check left without them is INDETERMINATE, "not configured".

    deployment:
      producers:
        - issuer: did:agent:finance-ops           # an issuer id or glob
          timezone: Europe/Berlin                 # for hours and operating days (UTC)
          working_hours: {start: "06:00", end: "20:00", weekdays: [1, 2, 3, 4, 5]}
          operating_days: [1, 2, 3, 4, 5]         # it is expected to record on these days
          conversational: false                   # it holds no conversation to record
          open_chains: false                      # its chains end with a terminal receipt
          inventory: {models: [...], tools: [...], targets: [...], executables: [...]}

`working_hours: always` declares a producer that works around the clock. Every listed
producer is an expected producer: an agent missing from the list is not inventoried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["check_parameters"]

_INVENTORY_KINDS = ("models", "tools", "targets", "executables")


def _working_hours(producer: Mapping[str, Any]) -> dict[str, Any] | None:
    hours = producer.get("working_hours")
    if hours is None:
        return None
    if hours == "always":
        return {"issuer": producer["issuer"], "always": True}
    return {
        "issuer": producer["issuer"],
        "start": hours["start"],
        "end": hours["end"],
        "weekdays": list(hours["weekdays"]),
        "timezone": producer.get("timezone", "UTC"),
    }


def _operating(producer: Mapping[str, Any]) -> dict[str, Any] | None:
    days = producer.get("operating_days")
    if days is None:
        return None
    return {
        "issuer": producer["issuer"],
        "weekdays": list(days),
        "timezone": producer.get("timezone", "UTC"),
    }


def _inventory(producer: Mapping[str, Any]) -> dict[str, Any]:
    allowed = producer.get("inventory", {})
    return {"issuer": producer["issuer"]} | {
        kind: list(allowed[kind]) for kind in _INVENTORY_KINDS if kind in allowed
    }


def check_parameters(deployment: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Check name → the parameters the deployment gives it (for every control using it).

    A parameter that no producer states is left out, so its check stays not configured.
    """
    producers: Sequence[Mapping[str, Any]] = deployment.get("producers", [])
    if not producers:
        return {}
    hours = [h for p in producers if (h := _working_hours(p)) is not None]
    operating = [o for p in producers if (o := _operating(p)) is not None]
    parameters: dict[str, dict[str, Any]] = {
        "intent_recorded": {
            "conversational": [p["issuer"] for p in producers if p.get("conversational")]
        },
        "termination_status": {
            "open_chains": [p["issuer"] for p in producers if p.get("open_chains")]
        },
        "inventory_allowlist": {"producers": [_inventory(p) for p in producers]},
    }
    if hours:
        parameters["working_hours"] = {"producers": hours}
    if operating:
        parameters["activity_continuity"] = {"producers": operating}
    return parameters
