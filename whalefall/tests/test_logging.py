from __future__ import annotations

import json

import structlog

from whalefall.structured_logging import bind_context, build_logging_config, register_secret, scrub


def test_it_scrubs_registered_secrets_and_inline_passwords() -> None:
    register_secret("Tr0ub4dor&3")
    text = scrub("login failed using Tr0ub4dor&3; dsn host=db password=abc123 port=1")
    assert "Tr0ub4dor&3" not in text
    assert "abc123" not in text
    assert "host=db" in text


def test_it_emits_json_with_context_and_redacted_keys(capsys: object) -> None:
    import logging.config

    logging.config.dictConfig(build_logging_config("json", "INFO"))
    structlog.reset_defaults()
    build_logging_config("json", "INFO")
    register_secret("Sup3rSecretValue")
    log = structlog.get_logger("whalefall.test")
    with bind_context(module="account_sync", session_id="s-1", instance_id=7, phase="inventory"):
        log.info("account_sync_inventory_completed", password="pw", note="was Sup3rSecretValue")
    err = capsys.readouterr().err.strip().splitlines()[-1]  # type: ignore[attr-defined]
    event = json.loads(err)
    assert event["event"] == "account_sync_inventory_completed"
    assert (event["module"], event["session_id"], event["instance_id"], event["phase"]) == (
        "account_sync",
        "s-1",
        7,
        "inventory",
    )
    assert event["password"] == "***"
    assert "Sup3rSecretValue" not in err
    logging.getLogger().handlers.clear()
