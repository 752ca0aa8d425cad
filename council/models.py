"""The database schema: typed SQLAlchemy 2 models.

Changes to this file need an Alembic revision in `council/migrations/versions/` so that a
user's existing database is upgraded, never recreated.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """A timestamp read back from the database, with its zone: SQLite hands back naive
    datetimes, and they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    pass


class Persona(Base):
    """A worker persona: a system prompt, and optionally a LoRA adapter, over the worker model."""

    __tablename__ = "personas"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    system_prompt: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200), default="")
    temperature: Mapped[float] = mapped_column(Float, default=0.7)
    top_p: Mapped[float] = mapped_column(Float, default=0.9)
    # repetition options over the workers' setting (`llm.sampling`), e.g. "repeat_penalty=1.2"
    sampling: Mapped[str] = mapped_column(String(200), default="", server_default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    color: Mapped[str] = mapped_column(String(7), default="#4f8cff")
    position: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(32), default="user")
    # Routing: example messages (with the description, its prototype), rules it declares, and
    # the centroid of its discovered cluster when it came from discovery, and the mode space
    # that cluster was found in (`ModeSpace.record()`; none: topic embeddings).
    example_messages: Mapped[list[str]] = mapped_column(JSON, default=list)
    routing_rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    centroid: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    mode_space: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # the trained adapter as the backend serves it: an adapter GGUF file (embedded engine) or
    # a model of its own on the server (Ollama/vLLM `persona-<slug>`), once registered
    adapter_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # "prompt", "lora" (its adapter) or "mix" (the router's mix of adapters): what it asks
    # for; council/variants.py decides what the backend serves, and the round records that
    variant: Mapped[str] = mapped_column(String(8), default="prompt", server_default="prompt")
    # how the adapter was registered and verified, and on which servers (`Registration.record`):
    # a round presents the persona as LoRA only on a backend this record covers
    adapter_served: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    @property
    def current_variant(self) -> str:
        """The variant asked for while an adapter is registered; otherwise the prompt alone."""
        return self.variant if self.variant in ("lora", "mix") and self.adapter_model \
            else "prompt"

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


NEW_CONVERSATION_TITLE = "New conversation"


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # a new conversation is named after its first question (council/rounds/store.py)
    title: Mapped[str] = mapped_column(String(200), default=NEW_CONVERSATION_TITLE)
    # the last round of the branch the user looks at (rounds form a tree: regenerate and edit
    # start a sibling); None until the first round
    current_round_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    rounds: Mapped[list[Round]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", order_by="Round.id")


class Round(Base):
    """One user message and everything the council did with it."""

    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"),
                                                 index=True)
    # the round this one follows in its branch; None for a conversation's first question
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"),
                                                  nullable=True, index=True)
    user_message: Mapped[str] = mapped_column(Text)
    # running | done | stopped | failed | interrupted
    status: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The router's decision: message features and every persona's weight, selection and reason.
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Peer review, when it ran: [{answer_id, mean_position, reviews}], best first.
    peer_ranking: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # the app process that runs it (council/app_processes.py); None in rows from before
    app_process_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    # Stop pressed in a tab on another app process; the one running the round stops it
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    conversation: Mapped[Conversation] = relationship(back_populates="rounds")
    answers: Mapped[list[WorkerAnswer]] = relationship(
        back_populates="round", cascade="all, delete-orphan", order_by="WorkerAnswer.id")
    synthesis: Mapped[Synthesis | None] = relationship(
        back_populates="round", cascade="all, delete-orphan", uselist=False)
    votes: Mapped[list[Vote]] = relationship(back_populates="round", cascade="all, delete-orphan",
                                             order_by="Vote.id")
    reviews: Mapped[list[PeerReview]] = relationship(cascade="all, delete-orphan",
                                                     order_by="PeerReview.id")
    comparison: Mapped[Comparison | None] = relationship(
        back_populates="round", cascade="all, delete-orphan", uselist=False)


class _GenerationMixin:
    """What one streamed generation leaves behind: text, outcome and Ollama's final-chunk stats."""

    model: Mapped[str] = mapped_column(String(200))
    # running | done | failed | timeout | stopped | interrupted (| unparseable for reviews)
    status: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    done_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    prompt_eval_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    eval_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prompt_eval_duration_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    eval_duration_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    total_duration_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    load_duration_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    first_token_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WorkerAnswer(_GenerationMixin, Base):
    __tablename__ = "worker_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    persona_id: Mapped[int | None] = mapped_column(ForeignKey("personas.id", ondelete="SET NULL"),
                                                   nullable=True)
    # Snapshots, so a round still reads right after the persona is edited or deleted.
    persona_name: Mapped[str] = mapped_column(String(80))
    persona_color: Mapped[str] = mapped_column(String(7), default="#4f8cff")
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    variant: Mapped[str] = mapped_column(String(8), default="prompt", server_default="prompt")
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    round: Mapped[Round] = relationship(back_populates="answers")


class Synthesis(_GenerationMixin, Base):
    __tablename__ = "syntheses"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), unique=True)

    round: Mapped[Round] = relationship(back_populates="synthesis")


class PeerReview(_GenerationMixin, Base):
    """One worker's ranking of the other answers; `labels` maps the letters it saw to answers."""

    __tablename__ = "peer_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    reviewer_answer_id: Mapped[int] = mapped_column(
        ForeignKey("worker_answers.id", ondelete="CASCADE"))
    labels: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # Answer ids best first; None when the review failed or its ranking was unparseable.
    ranking: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)


class AppState(Base):
    """Small key/value facts the app keeps about itself (e.g. which shipped personas it seeded)."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)

    @classmethod
    def read(cls, session: Session, key: str, default: Any = None) -> Any:
        state = session.get(cls, key)
        return default if state is None else state.value

    @classmethod
    def write(cls, session: Session, key: str, value: Any) -> None:
        state = session.get(cls, key)
        if state is None:
            session.add(cls(key=key, value=value))
        else:
            state.value = value


class Vote(Base):
    """The user's judgement on a round: the best answer, a thumbs down, or a tie / all bad.

    At most one `best` or `tie` vote per round (changing it updates the row); thumbs down are
    per answer. The router's weights at voting time are kept with the vote.
    """

    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    # best | down | tie
    kind: Mapped[str] = mapped_column(String(8))
    answer_id: Mapped[int | None] = mapped_column(
        ForeignKey("worker_answers.id", ondelete="CASCADE"), nullable=True)
    persona_id: Mapped[int | None] = mapped_column(
        ForeignKey("personas.id", ondelete="SET NULL"), nullable=True, index=True)
    weights: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    # cast while names and colours were hidden, so it judged the answer, not the persona
    blind: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    round: Mapped[Round] = relationship(back_populates="votes")


class RoutingExample(Base):
    """A labelled message for the router's gates: +1 this persona suits it, -1 it does not.

    A vote's rows teach the vote gate, which is their replay in order, so it survives restarts
    exactly; an imported persona's cluster messages (source "cluster", +1) are its examples
    for the example gate. Imports before that gate also stored -1 cluster rows: the router
    ignores them, and updating that import replaces them.
    """

    __tablename__ = "routing_examples"

    id: Mapped[int] = mapped_column(primary_key=True)
    persona_id: Mapped[int] = mapped_column(ForeignKey("personas.id", ondelete="CASCADE"),
                                            index=True)
    label: Mapped[int] = mapped_column(Integer)
    # vote | cluster
    source: Mapped[str] = mapped_column(String(16))
    vote_id: Mapped[int | None] = mapped_column(ForeignKey("votes.id", ondelete="CASCADE"),
                                                nullable=True, index=True)
    embedding: Mapped[list[float]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RouterStats(Base):
    """Per persona: how often the router has shown it, and in which routed round last."""

    __tablename__ = "router_stats"

    persona_id: Mapped[int] = mapped_column(ForeignKey("personas.id", ondelete="CASCADE"),
                                            primary_key=True)
    shown: Mapped[int] = mapped_column(Integer, default=0)
    last_shown: Mapped[int] = mapped_column(Integer, default=0)


class Job(Base):
    """A background job run by `council.jobs.JobRunner` (persona discovery for now)."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # discover
    kind: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # queued | running | done | failed | cancelled | interrupted
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    # {stage, done, total} of the latest progress line
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # {pid, start_ticks, cmdline} of its process while it runs (council.job_process)
    process: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # the app process that queued it, then the one that claimed it (council/app_processes.py)
    app_process_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    # `host:path` of the data dir it reads and writes: only an app process there claims it
    data_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    # set by a cancel from any app process; the one running it stops it
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AppProcess(Base):
    """One `council run` process sharing the database, while it lives and after
    (council/app_processes.py)."""

    __tablename__ = "app_processes"

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    # the machine's boot id: with the host name, where its pid means something
    boot_id: Mapped[str] = mapped_column(String(64), default="")
    pid: Mapped[int] = mapped_column(Integer)
    start_ticks: Mapped[int] = mapped_column(BigInteger)
    data_dir: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # its latest heartbeat; a process silent for long is taken for gone
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # when it stopped, or when another process found it gone
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Comparison(_GenerationMixin, Base):
    """A compare round's solo answer (the synthesizer model alone, neutral prompt, the same
    history), where the council answer stood when the pair was shown, and the user's verdict.

    The verdict names the winner by identity, not by letter, so what was shown as "A" never
    has to be worked out again; `council_position` keeps the letter for the record.
    """

    __tablename__ = "comparisons"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), unique=True)
    # "A" or "B": the council answer's side, drawn at random when the round starts
    council_position: Mapped[str] = mapped_column(String(1))
    # None until the user judges: council | solo | tie
    verdict: Mapped[str | None] = mapped_column(String(8), nullable=True)
    verdict_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    round: Mapped[Round] = relationship(back_populates="comparison")


class EvalAnswer(Base):
    """One contestant's answer to one eval question, kept so a stopped eval resumes and a
    second judge reuses it. `contestant_key` fingerprints what answered (model, prompt,
    settings), so a changed persona answers again instead of reusing a stale answer."""

    __tablename__ = "eval_answers"
    __table_args__ = (UniqueConstraint("question_key", "contestant_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_key: Mapped[str] = mapped_column(String(64), index=True)
    contestant: Mapped[str] = mapped_column(String(120))
    contestant_key: Mapped[str] = mapped_column(String(64))
    # done | failed
    status: Mapped[str] = mapped_column(String(16), default="done")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float] = mapped_column(Float, default=0.0)  # wall time of the whole answer
    tokens: Mapped[int] = mapped_column(Integer, default=0)  # generated, all its generations
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvalJudgement(Base):
    """One judge's verdict on two answers in one order (`first` shown as A); every pair is
    judged in both orders. `verdict` is A, B or C (tie), None when no reply had one."""

    __tablename__ = "eval_judgements"
    __table_args__ = (UniqueConstraint("judge_key", "first_id", "second_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    judge_key: Mapped[str] = mapped_column(String(64), index=True)
    first_id: Mapped[int] = mapped_column(ForeignKey("eval_answers.id", ondelete="CASCADE"))
    second_id: Mapped[int] = mapped_column(ForeignKey("eval_answers.id", ondelete="CASCADE"))
    verdict: Mapped[str | None] = mapped_column(String(1), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    reply: Mapped[str] = mapped_column(Text, default="")  # the judge's last reply, for audit
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvalRun(Base):
    """One `council eval` run: what it compared, and its report once written (Analytics shows
    the latest)."""

    __tablename__ = "eval_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_set: Mapped[str] = mapped_column(Text)
    contestants: Mapped[list[str]] = mapped_column(JSON, default=list)
    judge: Mapped[str] = mapped_column(String(200))
    out_dir: Mapped[str] = mapped_column(Text)
    # running | done | failed | interrupted
    state: Mapped[str] = mapped_column(String(16), default="running")
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
