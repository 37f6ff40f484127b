"""The typer command line. Each module parses arguments for one command group and calls library code."""
