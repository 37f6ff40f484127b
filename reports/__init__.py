"""Reports: the self-contained HTML and the PDF study report, and the figures for papers."""
