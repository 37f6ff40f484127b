"""Survey subsystem: instruments, import of survey-platform exports, cleaning, scoring, simulation."""
