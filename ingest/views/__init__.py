"""Dashboard pages and actions. Like the API, they translate HTTP into a
selector or service call and back; every write checks the role here, on the
server, whatever the page showed.

``http`` holds what every page and action shares (membership, refusals in
words, redirects); ``projects``, ``jobs`` and ``documents`` the pages and
actions themselves. The header's list of projects comes from
``ingest.context_processors``.
"""
