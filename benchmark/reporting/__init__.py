"""Aggregation, statistics, tables, plots, compare and the leaderboard (schema, publish, render)."""
