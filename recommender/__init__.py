"""Recommender subsystem: interaction data, offline evaluation harness, baselines and the relation model."""
