"""The RQ queue every task of the service goes on: the jobs (``ingest.services``)
and the search indexer (``ingest.search_index``). Its settings are
``RQ_QUEUES["ingest"]``; the Procfile's worker listens on it."""

QUEUE_NAME = "ingest"
