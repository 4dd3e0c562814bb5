"""scheduler_tasks.yaml details the main config tests do not pin: where invalid YAML is, which
unknown field is named, a file without default_tasks, and TaskSpec's defaults."""

from __future__ import annotations

import dataclasses

import pytest

from scheduling.config import ConfigError, TaskSpec, parse


def test_invalid_yaml_is_located_by_its_line_number() -> None:
    text = "default_tasks:\n  - id: a_b\n    name: [unclosed\n"
    with pytest.raises(ConfigError) as error:
        parse(text, "tasks.yaml")
    assert error.value.entry == "line 4" and "invalid YAML" in error.value.message


def test_a_mapping_without_default_tasks_is_refused() -> None:
    with pytest.raises(ConfigError) as error:
        parse("jobs: []\n", "tasks.yaml")
    assert error.value.field == "default_tasks"


def test_the_first_unknown_field_in_order_is_named() -> None:
    text = (
        "default_tasks:\n  - {id: a_b, name: n, function: f, trigger_type: cron, "
        "trigger_params: {minute: 0}, zone: x, colour: red}\n"
    )
    with pytest.raises(ConfigError) as error:
        parse(text, "tasks.yaml")
    assert error.value.field == "colour"


def test_a_task_spec_is_enabled_unless_said_otherwise_and_immutable() -> None:
    spec = TaskSpec("a_b", "A", "pkg.mod.fn", "cron", {"minute": 0})
    assert spec.enabled is True and spec.kwargs == {} and spec.description == ""
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.enabled = False  # type: ignore[misc]
