"""The two ways a file is not ingested; their messages are shown to the user."""


class UnsupportedType(ValueError):
    """The content is not a type we ingest. The message says why."""


class ExtractionError(ValueError):
    """The file is of a supported type but could not be read. The message says why."""
