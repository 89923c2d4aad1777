"""A FastAPI + SQLAlchemy 2 (async, asyncpg) app of the API's jobs endpoints,
for ``bench.peers``: the same tables and rows as ours, the same token
(``Authorization: Token <key>``) and membership check, written the way the
two libraries' documentation writes an app: mapped classes, an
``AsyncSession`` per request from a pooled engine, ``selectinload`` for the
detail's files, pydantic response models. A DELETE soft-deletes a finished
job and writes its audit event in one transaction, as ours does. Served as
the Procfile serves ours (gunicorn, uvicorn workers).
"""

import datetime
import os
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, ForeignKey, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload

FINISHED = ("completed", "failed", "cancelled")


def database_url() -> str:
    url = os.environ["DATABASE_URL"]
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


# As ours (config/settings.py): no JIT, which compiled the list's queries for nothing.
engine = create_async_engine(
    database_url(),
    pool_size=8,
    max_overflow=0,
    connect_args={"server_settings": {"jit": "off"}},
)
sessions = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    # Django's DateTimeField is timestamp with time zone.
    type_annotation_map = {datetime.datetime: DateTime(timezone=True)}


class Token(Base):
    __tablename__ = "authtoken_token"
    key: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[int]


class Membership(Base):
    __tablename__ = "ingest_membership"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[uuid.UUID]
    user_id: Mapped[int]
    role: Mapped[str]


class File(Base):
    __tablename__ = "ingest_ingestfile"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ingest_ingestjob.id"))
    position: Mapped[int]
    name: Mapped[str]
    size: Mapped[int]
    status: Mapped[str]
    chunks: Mapped[int]
    error: Mapped[str]
    kind: Mapped[str]


class Job(Base):
    __tablename__ = "ingest_ingestjob"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    project_id: Mapped[uuid.UUID]
    name: Mapped[str]
    status: Mapped[str]
    version: Mapped[int]
    chunk_size: Mapped[int]
    chunk_overlap: Mapped[int]
    created_at: Mapped[datetime.datetime]
    started_at: Mapped[datetime.datetime | None]
    finished_at: Mapped[datetime.datetime | None]
    cancel_requested_at: Mapped[datetime.datetime | None]
    deleted_at: Mapped[datetime.datetime | None]
    error: Mapped[str]
    items_total: Mapped[int]
    items_done: Mapped[int]
    bytes_total: Mapped[int]
    bytes_done: Mapped[int]
    files: Mapped[list[File]] = relationship(order_by=File.position)


class Event(Base):
    __tablename__ = "jobs_jobevent"
    id: Mapped[int] = mapped_column(primary_key=True)
    content_type_id: Mapped[int]
    job_id: Mapped[uuid.UUID]
    job_name: Mapped[str]
    job_scope: Mapped[str]
    from_status: Mapped[str]
    to_status: Mapped[str]
    action: Mapped[str]
    actor_id: Mapped[int | None]
    reason: Mapped[str]
    extra: Mapped[dict] = mapped_column(JSONB)
    at: Mapped[datetime.datetime]


class ContentType(Base):
    __tablename__ = "django_content_type"
    id: Mapped[int] = mapped_column(primary_key=True)
    app_label: Mapped[str]
    model: Mapped[str]


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    size: int
    status: str
    chunks: int
    error: str
    kind: str


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    status: str
    version: int
    chunk_size: int
    chunk_overlap: int
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    cancel_requested_at: datetime.datetime | None
    error: str
    items_total: int
    items_done: int
    bytes_total: int
    bytes_done: int


class JobDetailOut(JobOut):
    files: list[FileOut]


class JobPage(BaseModel):
    count: int
    next: str | None
    previous: str | None
    results: list[JobOut]


app = FastAPI()


async def session() -> AsyncIterator[AsyncSession]:
    async with sessions() as opened:
        yield opened


Session = Annotated[AsyncSession, Depends(session)]


async def member(project_id: uuid.UUID, db: Session, authorization: str = Header("")) -> int:
    """The token's user, if a member of the project (else 401, or 404)."""
    scheme, _, key = authorization.partition(" ")
    if scheme != "Token" or not key:
        raise HTTPException(401, "Authentication credentials were not provided.")
    found = await db.execute(
        select(Token.user_id, Membership.role)
        .outerjoin(
            Membership,
            (Membership.user_id == Token.user_id) & (Membership.project_id == project_id),
        )
        .where(Token.key == key)
    )
    row = found.first()
    if row is None:
        raise HTTPException(401, "Invalid token.")
    if row.role is None:
        raise HTTPException(404, "Not found.")
    return row.user_id


Member = Annotated[int, Depends(member)]


def alive(project_id: uuid.UUID):
    return select(Job).where(Job.project_id == project_id, Job.deleted_at.is_(None))


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@app.get("/api/projects/{project_id}/ingest/jobs/", response_model=JobPage)
async def job_list(project_id: uuid.UUID, user: Member, db: Session, page: int = 1):
    jobs = alive(project_id)
    count = await db.scalar(select(func.count()).select_from(jobs.subquery()))
    rows = await db.scalars(
        jobs.order_by(Job.created_at.desc(), Job.id.desc()).limit(25).offset((page - 1) * 25)
    )
    more = f"?page={page + 1}" if page * 25 < count else None
    return {"count": count, "next": more, "previous": None, "results": rows.all()}


@app.get("/api/projects/{project_id}/ingest/jobs/{job_id}/", response_model=JobDetailOut)
async def job_detail(project_id: uuid.UUID, job_id: uuid.UUID, user: Member, db: Session):
    job = await db.scalar(
        alive(project_id).where(Job.id == job_id).options(selectinload(Job.files))
    )
    if job is None:
        raise HTTPException(404, "Not found.")
    return job


@app.delete("/api/projects/{project_id}/ingest/jobs/{job_id}/", status_code=204)
async def job_delete(project_id: uuid.UUID, job_id: uuid.UUID, user: Member, db: Session):
    job = await db.scalar(alive(project_id).where(Job.id == job_id).with_for_update())
    if job is None:
        raise HTTPException(404, "Not found.")
    if job.status not in FINISHED:
        raise HTTPException(409, f"job is {job.status}: cancel the job first.")
    now = datetime.datetime.now(datetime.UTC)
    before, job.status, job.deleted_at = job.status, "cancelled", now
    job.version += 1
    db.add(
        Event(
            content_type_id=await content_type(db),
            job_id=job.id,
            job_name=job.name,
            job_scope=str(job.project_id),
            from_status=before,
            to_status="cancelled",
            action="delete",
            actor_id=user,
            reason="",
            extra={},
            at=now,
        )
    )
    await db.commit()  # the request's transaction: its token read, the row lock, the writes
    return Response(status_code=204)


_content_type: list[int] = []


async def content_type(db: AsyncSession) -> int:
    """The ingest job's content type id (the audit trail's key), read once."""
    if not _content_type:
        kind = (ContentType.app_label == "ingest") & (ContentType.model == "ingestjob")
        _content_type.append(await db.scalar(select(ContentType.id).where(kind)))
    return _content_type[0]
