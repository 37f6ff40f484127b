"""The split of long modules into named phases (issue 11) keeps the public surface: the `survey` CLI
lists the same commands in the same order, and the import API still answers from its old module."""

from __future__ import annotations

import typer.main

from dancerec.cli import survey as survey_cli


def test_survey_commands_keep_their_names_and_order():
    group = typer.main.get_command(survey_cli.app)
    assert list(group.list_commands(None)) == [
        "import",
        "validate",
        "score",
        "flags",
        "quarantine",
        "simulate",
        "export",
        "instrument",
    ]
    options = {p.name for p in group.commands["import"].params}
    assert {"id_prefix", "pseudonymise", "on_invalid", "replace", "scale_map", "dayfirst"} <= options
    assert "replace" not in {p.name for p in group.commands["validate"].params}


def test_import_api_is_still_importable_from_the_importer():
    from dancerec.survey import importer, prepare

    for name in (
        "ImportOptions",
        "PreparedImport",
        "QuarantinedRow",
        "prepare_import",
        "raise_first_problem",
    ):
        assert getattr(importer, name) is getattr(prepare, name)
    for name in ("parse_duration", "parse_timestamp", "parse_scale_map", "ImportReport", "validate_file"):
        assert callable(getattr(importer, name))
