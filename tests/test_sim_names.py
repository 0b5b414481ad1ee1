"""SIMs by name: ICCID, MSISDN, label or an unambiguous label prefix — in the core, the CLI and
Slack (`/sms pump 7 reset modem`, a label typed in the form); ambiguous names list the choices."""

from __future__ import annotations

import io

from bot.sim_names import resolve, split_name_and_text
from bot.store.db import Database
from bot.store.inventory import import_csv
from tests.support.bot import Bot, values

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
    assert blocks["iccid"]["element"]["initial_value"] == PUMP7
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
