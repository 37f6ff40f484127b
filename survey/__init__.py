"""Survey subsystem: instruments, import of survey-platform exports, cleaning, scoring, simulation."""

from dancerec.survey.loader import NoSurveyData, SurveyData, load_survey

__all__ = ["NoSurveyData", "SurveyData", "load_survey"]
