"""Office documents, e-books and e-mail: each extractor streams the text a
reader sees, checks a checkpoint as it goes, and raises ExtractionError with a
sentence for damaged, encrypted or mislabelled input."""

from ingest.pipeline.office.container import container_kind
from ingest.pipeline.office.epub import extract_epub
from ingest.pipeline.office.mail import Attachment, eml_attachments, extract_eml
from ingest.pipeline.office.sheets import extract_xlsx
from ingest.pipeline.office.slides import extract_pptx
from ingest.pipeline.office.word import extract_docx

__all__ = [
    "Attachment",
    "container_kind",
    "eml_attachments",
    "extract_docx",
    "extract_eml",
    "extract_epub",
    "extract_pptx",
    "extract_xlsx",
]
