"""Tables the survey subsystem owns in the study database (see dancerec.workspace.Migration).

- ``survey_import``: one row per import that changed something (file checksum, format, counts).
- ``survey_respondent``: one row per respondent (group, user id, completion time, submission time).
- ``survey_answer``: long format, one row per answered item (missing answers have no row), raw values.
- ``survey_quarantine``: rows an import set aside with ``--on-invalid quarantine``, with the reason.
- ``survey_flag``: data-quality flags per respondent (value, threshold, flagged); rows are never deleted
  for being flagged.
- ``survey_setting``: small survey settings of the study (the flag thresholds last used).
"""

from dancerec.workspace import Migration

MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "survey imports, respondents, answers, quarantine and quality flags",
        """
        CREATE TABLE survey_import (
            import_id INTEGER PRIMARY KEY,
            path VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            encoding VARCHAR,
            instrument VARCHAR NOT NULL,
            options VARCHAR NOT NULL,
            n_rows INTEGER NOT NULL,
            n_new INTEGER NOT NULL,
            n_unchanged INTEGER NOT NULL,
            n_replaced INTEGER NOT NULL,
            n_quarantined INTEGER NOT NULL,
            n_filtered INTEGER NOT NULL,
            imported_at TIMESTAMP NOT NULL
        );
        CREATE TABLE survey_respondent (
            respondent_id VARCHAR PRIMARY KEY,
            grp VARCHAR,
            user_id VARCHAR,
            duration_s DOUBLE,
            submitted_at TIMESTAMP,
            import_id INTEGER NOT NULL,
            source_row INTEGER
        );
        CREATE TABLE survey_answer (
            respondent_id VARCHAR NOT NULL,
            item_id VARCHAR NOT NULL,
            value DOUBLE NOT NULL,
            PRIMARY KEY (respondent_id, item_id)
        );
        CREATE TABLE survey_quarantine (
            import_id INTEGER NOT NULL,
            source_row INTEGER,
            respondent_id VARCHAR,
            column_name VARCHAR,
            reason VARCHAR NOT NULL,
            raw VARCHAR
        );
        CREATE TABLE survey_flag (
            respondent_id VARCHAR NOT NULL,
            flag VARCHAR NOT NULL,
            flagged BOOLEAN NOT NULL,
            value DOUBLE,
            threshold DOUBLE,
            PRIMARY KEY (respondent_id, flag)
        );
        CREATE TABLE survey_setting (
            key VARCHAR PRIMARY KEY,
            value VARCHAR NOT NULL
        );
        """,
    ),
    Migration(
        2,
        "survey_answer and survey_flag without composite primary-key indexes (memory of large imports)",
        # DuckDB keeps a primary key as an in-memory ART index: ~100 bytes per answer, about 3x
        # the answers themselves (measured: 3.1 M answers, +350 MiB with the key, +48 MiB without).
        # Uniqueness holds by construction instead: answers are written only together with their
        # respondent row (survey_respondent keeps its primary key) from a wide frame with one column
        # per item, and flags are rewritten from compute_flags' one row per respondent and flag.
        """
        CREATE TABLE survey_answer_v2 (
            respondent_id VARCHAR NOT NULL,
            item_id VARCHAR NOT NULL,
            value DOUBLE NOT NULL
        );
        INSERT INTO survey_answer_v2 SELECT respondent_id, item_id, value FROM survey_answer;
        DROP TABLE survey_answer;
        ALTER TABLE survey_answer_v2 RENAME TO survey_answer;
        CREATE TABLE survey_flag_v2 (
            respondent_id VARCHAR NOT NULL,
            flag VARCHAR NOT NULL,
            flagged BOOLEAN NOT NULL,
            value DOUBLE,
            threshold DOUBLE
        );
        INSERT INTO survey_flag_v2 SELECT respondent_id, flag, flagged, value, threshold FROM survey_flag;
        DROP TABLE survey_flag;
        ALTER TABLE survey_flag_v2 RENAME TO survey_flag;
        """,
    ),
]
