"""Counts as query expressions, for the models' and the selectors' queries:
rows grouped and counted, and a correlated count as an annotation."""

from django.db import models
from django.db.models import Count, Subquery
from django.db.models.functions import Coalesce


def totals_by(rows: models.QuerySet, by: str, total=None) -> models.QuerySet:
    """``rows`` grouped by the column ``by``, each group's ``total`` (a count
    of its rows by default) as ``total``."""
    # COUNT(*): a count of the primary key would read it from the table, where
    # a partial index (the job list's) answers COUNT(*) alone.
    return rows.order_by().values(by).annotate(total=total or Count("*"))


def correlated_total(rows: models.QuerySet, by: str, total=None) -> Coalesce:
    """``total`` (a count by default) of ``rows``, which filter ``by`` an
    ``OuterRef``: an annotation of the outer query, 0 when there are none."""
    return Coalesce(Subquery(totals_by(rows, by, total).values("total")), 0)
