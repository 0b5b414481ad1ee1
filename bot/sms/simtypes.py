"""What the portal allows per SIM type (from the Send SMS page)."""

from __future__ import annotations

from bot.sms.problems import Problem

#: Open user group SIM types cannot receive SMS through the API.
OPEN_USER_GROUP_TYPES = frozenset({"multinet kpn o"})
BINARY_TYPES = frozenset({"multinet kpn c"})


def canonical_type(sim_type: str | None) -> str | None:
    """Lower-cased, single-spaced SIM type, or None when unknown."""
    if sim_type is None or not sim_type.strip():
        return None
    return " ".join(sim_type.split()).casefold()


def is_manx(sim_type: str | None) -> bool:
    canon = canonical_type(sim_type)
    return canon is not None and canon.startswith("manx")


def check_sim_type(sim_type: str | None, data_coding: str, origin: str | None) -> list[Problem]:
    """SIM-type rules. With the type unknown, the portal decides: nothing is refused here."""
    canon = canonical_type(sim_type)
    if canon is None:
        return []
    problems: list[Problem] = []
    if canon in OPEN_USER_GROUP_TYPES or "open user group" in canon:
        problems.append(
            Problem(
                "iccid",
                "open_user_group",
                f"This SIM is of type {sim_type}, an open user group type: the portal cannot "
                "send SMS to it.",
            )
        )
    if data_coding == "binary" and canon not in BINARY_TYPES:
        problems.append(
            Problem(
                "data_coding",
                "binary_not_allowed",
                f"Binary SMS works only on Multinet KPN C SIMs; this one is {sim_type}. "
                "Choose `default` and send text.",
            )
        )
    if origin is not None and not is_manx(sim_type):
        problems.append(
            Problem(
                "origin",
                "origin_ignored",
                f"The origin number only acts on Manx Telecom SIMs; for {sim_type} the portal "
                "ignores it.",
                "warning",
            )
        )
    return problems
