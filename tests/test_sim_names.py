"""SIMs by name: ICCID, MSISDN, label or an unambiguous label prefix — in the core, the CLI and
Slack (`/sms pump 7 reset modem`, a label typed in the form); ambiguous names list the choices."""

from __future__ import annotations

import io
from typing import Any

from bot.sim_names import resolve, split_name_and_text
from bot.sms.iccid import luhn_ok
from bot.store.db import Database
from bot.store.inventory import import_csv
from tests.support import slack_rules
from tests.support.bot import Bot, form_action, values

PUMP7 = "89440000000000000010"
PUMP12 = "89330000000000000062"
METER = "89310000000000000023"
CSV = (
    "iccid,label,sim_type,msisdn\n"
    f"{PUMP7},pump 7 Harbour Rd,Manx Telecom,+447700900123\n"
    f"{PUMP12},pump 12,Multinet Orange,\n"
    f"{METER},meter 100%_x,Multinet KPN C,\n"
)


def _inventory(database: Database) -> None:
    with database.session() as session:
        result = import_csv(session, io.StringIO(CSV), "cli:test")
        assert not result.errors, result.errors


def test_names_resolve_to_one_sim_or_the_choices(database: Database) -> None:
    _inventory(database)
    with database.read() as session:
        assert resolve(session, "pump 7").iccid == PUMP7
        assert resolve(session, "PUMP 7 harbour rd").iccid == PUMP7
        assert resolve(session, "+44 7700 900123").iccid == PUMP7
        assert resolve(session, "8944 0000 0000 0000 0010").iccid == PUMP7
        ambiguous = resolve(session, "pump")
        assert ambiguous.iccid is None and ambiguous.ambiguous
        assert "`pump` names 2 SIMs: pump 12 (" in (ambiguous.problem() or "")
        assert "pump 7 Harbour Rd (" in (ambiguous.problem() or "")
        # LIKE wildcards in a name are literal characters.
        assert resolve(session, "meter 100%").iccid == METER
        assert resolve(session, "met_r").iccid is None
        assert "No SIM is called `nothing`" in (resolve(session, "nothing").problem() or "")
        found, rest = split_name_and_text(session, "pump 7 reset modem")
        assert found is not None and found.iccid == PUMP7 and rest == "reset modem"
        found, rest = split_name_and_text(session, "pump reset")
        assert found is not None and found.ambiguous and rest == "reset"


def test_the_cli_sends_by_label_and_lists_choices(smsbot, database: Database) -> None:  # type: ignore[no-untyped-def]
    _inventory(database)
    sent = smsbot("send", "--as", "UADMIN", "--sim", "pump 7", "--text", "reset modem")
    assert sent.code == 0, sent.err
    assert f"iccid {PUMP7}" in sent.out
    by_number = smsbot("send", "--as", "UADMIN", "--sim", "447700900123", "--text", "x")
    assert by_number.code == 0 and f"iccid {PUMP7}" in by_number.out
    unclear = smsbot("send", "--as", "UADMIN", "--sim", "pump", "--text", "x")
    assert unclear.code == 1 and "`pump` names 2 SIMs" in unclear.err
    neither = smsbot("send", "--as", "UADMIN", "--text", "x")
    assert neither.code == 2 and "give the SIM with --sim (or --iccid)" in neither.err


def test_slack_opens_the_form_for_a_named_sim_and_sends_by_label(bot: Bot) -> None:
    _inventory(bot.runtime.db)
    bot.grant("U0SENDER")
    opened = bot.open_modal("pump 7 reset modem")
    blocks = {b["block_id"]: b for b in opened.args["view"]["blocks"]}
    assert blocks["iccid"]["element"]["initial_option"]["value"] == PUMP7
    assert blocks["message_text"]["element"]["initial_value"] == "reset modem"
    assert "pump 7 Harbour Rd" in blocks["sim_info"]["elements"][0]["text"]
    # A label typed in the form is sent to that SIM.
    modal = bot.open_modal()
    assert bot.submit(modal, values(iccid="pump 12", text="hello")).text == ""
    bot.slack.wait_for("chat.postMessage", lambda c: "Accepted" in c.args.get("text", ""))
    assert bot.portal_sends[-1].findtext("iccid") == PUMP12
    # An ambiguous name never guesses: the form lists the choices.
    unclear = bot.open_modal("pump reset")
    answer = bot.submit(unclear, values(iccid="pump", text="reset")).json()
    assert answer["response_action"] == "errors"
    assert "names 2 SIMs" in answer["errors"]["iccid"]
    # A word that names no SIM and no subcommand is still a typo'd subcommand.
    response = bot.client.command("grnat U1 * sender", user="U0SENDER")
    assert "Unknown subcommand" in response.text


# ---- the form's SIM picker: an external_select fed by block_suggestion ----------------------
def suggestion(view: dict[str, Any], query: str, user: str = "U0SENDER") -> dict[str, Any]:
    """A block_suggestion payload as Slack sends it while someone types in the picker."""
    return {
        "type": "block_suggestion",
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "container": {"type": "view", "view_id": view.get("id", "V1")},
        "api_app_id": "A0001",
        "token": "legacy-verification-token",
        "action_id": "iccid",
        "block_id": "iccid",
        "value": query,
        "team": {"id": "T0001", "domain": "x"},
        "view": view,
    }


def _offered(bot: Bot, view: dict[str, Any], query: str, user: str = "U0SENDER") -> list[str]:
    response = bot.client.interaction(suggestion(view, query, user))
    assert response.status_code == 200
    answer = response.json()
    assert slack_rules.check_options_ack(answer) == [], answer
    options = answer["options"] if "options" in answer else answer["option_groups"][0]["options"]
    return [o["value"] for o in options]


def test_the_picker_lists_only_sims_the_user_may_message(bot: Bot) -> None:
    _inventory(bot.runtime.db)
    bot.grant("U0SENDER", "8944*")  # pump 7 only
    view = bot.open_modal().args["view"]
    picker = next(b for b in view["blocks"] if b["block_id"] == "iccid")
    assert picker["element"]["type"] == "external_select"
    assert _offered(bot, view, "") == [PUMP7]
    assert _offered(bot, view, "PUMP") == [PUMP7]
    assert _offered(bot, view, "7700 900") == [PUMP7]  # part of the MSISDN
    assert _offered(bot, view, "meter") == []
    # An admin sees every SIM; `%` and `_` are letters, not wildcards.
    assert _offered(bot, view, "pump", "UADMIN") == [PUMP12, PUMP7]
    assert _offered(bot, view, "8931", "UADMIN") == [METER]
    assert _offered(bot, view, "%_", "UADMIN") == [METER]
    # A whole ICCID that is not listed is offered as typed: the core's rules then decide.
    unknown = "8944 1000 0000 0000 0008"
    assert _offered(bot, view, unknown) == ["89441000000000000008"]
    assert _offered(bot, view, "<!channel>\x00") == []


def test_the_picker_caps_a_big_inventory_and_the_choice_is_sent(bot: Bot) -> None:
    iccids = [
        next(f"894400000000{i:07d}{d}" for d in "0123456789" if luhn_ok(f"894400000000{i:07d}{d}"))
        for i in range(150)
    ]
    rows = "".join(f"{iccid},site {i:03d},Manx Telecom,\n" for i, iccid in enumerate(iccids))
    with bot.runtime.db.session() as session:
        import_csv(session, io.StringIO("iccid,label,sim_type,msisdn\n" + rows), "cli:test")
    bot.grant("U0SENDER")
    modal = bot.open_modal()
    view = {**modal.args["view"], "id": modal.answer["view"]["id"]}
    response = bot.client.interaction(suggestion(view, "site"))
    answer = response.json()
    assert slack_rules.check_options_ack(answer) == []
    (group,) = answer["option_groups"]
    assert len(group["options"]) == 100 and "type more" in group["label"]["text"]
    assert len(_offered(bot, view, "site 14")) == 10  # site 140–149
    # Choosing an option re-renders the form around that SIM; submitting sends to it.
    chosen = _offered(bot, view, "site 007")[0]
    state = values(iccid=chosen, text="reset")
    opened = {**view, "hash": modal.answer["view"]["hash"]}
    action = form_action(opened, state, "iccid")
    assert bot.client.interaction(action).status_code == 200
    update = bot.slack.wait_for("views.update")[0].args["view"]
    shown = {b["block_id"]: b for b in update["blocks"]}
    assert "site 007" in shown["sim_info"]["elements"][0]["text"]
    assert shown["iccid"]["element"]["initial_option"]["value"] == chosen
    assert bot.submit(modal, state, view=update).text == ""
    # The sandbox portal knows none of these made-up SIMs: it refuses, which shows what was sent.
    bot.slack.wait_for("chat.postMessage", lambda c: "Rejected by the portal" in c.args["text"])
    assert bot.portal_sends[-1].findtext("iccid") == chosen
