"""Suites, jobs, the job context, executors, transfer, the result store and user method files."""
