"""Linking offline recommender metrics to perceived quality (the reason dancerec exists).

Three levels, following the user-experience framework of Knijnenburg et al. (2012, UMUAI 22):

* **group level** (:mod:`.group`) — each study group saw one recommender run: its offline metrics beside
  the group's mean perceived-quality scores, group tests per dimension and rank correlations across
  groups. The between-group association lives here.
* **user level, within groups** — each respondent linked to a ``user_id`` of the interaction log gets the
  per-user metrics of the run their group saw: within-group Spearman correlations
  (:mod:`.correlations`), regressions with group fixed effects (:mod:`.regression`) and an SEM with the
  group-centred metrics as observed predictors of the latent dimensions (:mod:`.sem`).
* **missing links** (:mod:`.join`) are counted, never silently dropped.

Every family of tests carries raw ``p`` and adjusted ``p_adj`` (:mod:`.multiplicity`); pre-registered
``METRIC:DIMENSION`` hypotheses form their own family (:mod:`.primary`). :mod:`.plan` plants a known link
into a simulated study; :mod:`.planning` estimates power before a study; :mod:`.study` loads a study and
runs it all.
"""

from dancerec.indices.linkage._common import (
    DEFAULT_K,
    DEFAULT_METRICS,
    DEFAULT_PREDICTORS,
    FEW_GROUPS,
    SUMMARY_ONLY_METRICS,
    WITHIN_GROUP,
    group_centre,
    metric_column,
    safe_name,
    standardise,
    within_z,
)
from dancerec.indices.linkage.correlations import user_correlations, within_spearman
from dancerec.indices.linkage.group import (
    GroupLevelResult,
    few_groups_caveat,
    group_correlations,
    group_level,
    group_tests,
)
from dancerec.indices.linkage.join import GroupRun, MissingLinks, join_users
from dancerec.indices.linkage.multiplicity import ADJUST_METHODS, add_adjusted, adjust_p
from dancerec.indices.linkage.plan import find_surprise_dimension, plan_linked_respondents
from dancerec.indices.linkage.primary import parse_primary, primary_tests
from dancerec.indices.linkage.regression import REGRESSION_METHODS, user_regressions
from dancerec.indices.linkage.sem import SemLinkResult, metrics_sem, sem_syntax
from dancerec.indices.linkage.study import (
    LinkageInputs,
    LinkageResult,
    link_study,
    linkage_settings,
    load_group_runs,
    parse_group_map,
    plan_study_from_runs,
    run_linkage,
    save_group_map,
)

__all__ = [
    "ADJUST_METHODS",
    "DEFAULT_K",
    "DEFAULT_METRICS",
    "DEFAULT_PREDICTORS",
    "FEW_GROUPS",
    "REGRESSION_METHODS",
    "SUMMARY_ONLY_METRICS",
    "WITHIN_GROUP",
    "GroupLevelResult",
    "GroupRun",
    "LinkageInputs",
    "LinkageResult",
    "MissingLinks",
    "SemLinkResult",
    "add_adjusted",
    "adjust_p",
    "few_groups_caveat",
    "find_surprise_dimension",
    "group_centre",
    "group_correlations",
    "group_level",
    "group_tests",
    "join_users",
    "link_study",
    "linkage_settings",
    "load_group_runs",
    "metric_column",
    "metrics_sem",
    "parse_group_map",
    "parse_primary",
    "plan_linked_respondents",
    "plan_study_from_runs",
    "primary_tests",
    "run_linkage",
    "safe_name",
    "save_group_map",
    "sem_syntax",
    "standardise",
    "user_correlations",
    "user_regressions",
    "within_spearman",
    "within_z",
]
