"""The CSV files the dataset builders write."""

import csv


def write_csv(path, header, rows):
    """Write `rows` (lists) under `header` to the CSV file `path`."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def read_csv(path):
    """The rows of the CSV file `path` as dicts keyed by its header."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
