"""`make bench`: builds large data sets with COPY and measures the performance budgets.

- dataset.py: the generated shop (customers and orders), loaded with COPY into PostgreSQL.
- databases.py: one database per data set size, created, reused and dropped by the runner.
- sections.py: what is measured (the nightly analytics so far), each in a fresh process.
- runner.py: the driver behind ``manage.py bench``; assembles the JSON report.

See docs/benchmarks.md.
"""
