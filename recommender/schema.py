"""Tables the recommender subsystem owns in the study database (see dancerec.workspace.Migration).

Bulk data (interactions, splits, per-user metrics) lives as Parquet under ``study.artifacts /
"recommender"``; the database holds the catalogue: which datasets, splits, trained models and
evaluation runs exist, with their parameters, sizes and seeds.
"""

from dancerec.workspace import Migration

MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "interaction datasets, splits, trained models and evaluation runs",
        """
        CREATE TABLE rec_dataset (
            name VARCHAR PRIMARY KEY,
            source VARCHAR NOT NULL,
            path VARCHAR NOT NULL,
            n_users BIGINT NOT NULL,
            n_items BIGINT NOT NULL,
            n_interactions BIGINT NOT NULL,
            density DOUBLE NOT NULL,
            n_bad_rows BIGINT NOT NULL DEFAULT 0,
            params VARCHAR NOT NULL DEFAULT '{}',
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE rec_split (
            name VARCHAR PRIMARY KEY,
            dataset VARCHAR NOT NULL,
            method VARCHAR NOT NULL,
            params VARCHAR NOT NULL,
            seed INTEGER,
            path VARCHAR NOT NULL,
            n_train BIGINT NOT NULL,
            n_test BIGINT NOT NULL,
            n_test_users BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE rec_model (
            model_id VARCHAR PRIMARY KEY,
            model VARCHAR NOT NULL,
            params VARCHAR NOT NULL,
            split VARCHAR NOT NULL,
            seed INTEGER NOT NULL,
            path VARCHAR NOT NULL,
            train_s DOUBLE NOT NULL,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE rec_run (
            run_id VARCHAR PRIMARY KEY,
            model VARCHAR NOT NULL,
            params VARCHAR NOT NULL,
            split VARCHAR NOT NULL,
            seed INTEGER NOT NULL,
            k_list VARCHAR NOT NULL,
            protocol VARCHAR NOT NULL,
            n_users BIGINT NOT NULL,
            train_s DOUBLE,
            eval_s DOUBLE,
            coverage VARCHAR NOT NULL DEFAULT '{}',
            path VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE rec_run_metric (
            run_id VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            k INTEGER NOT NULL,
            mean DOUBLE,
            ci_low DOUBLE,
            ci_high DOUBLE,
            PRIMARY KEY (run_id, metric, k)
        );
        """,
    ),
    Migration(
        2,
        "tunings: chosen parameters with the validation scores of every trial (one row per version)",
        """
        CREATE TABLE rec_tuning (
            tuning_id VARCHAR PRIMARY KEY,
            model VARCHAR NOT NULL,
            split VARCHAR NOT NULL,
            params VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            score DOUBLE,
            budget INTEGER NOT NULL,
            strategy VARCHAR NOT NULL,
            seed INTEGER NOT NULL,
            val_frac DOUBLE NOT NULL,
            n_val_users BIGINT NOT NULL,
            space VARCHAR NOT NULL,
            trials VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL
        );
        """,
    ),
]
