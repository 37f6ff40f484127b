"""One module per report section; :func:`dancerec.reports.build.build_sections` runs them in report order."""
