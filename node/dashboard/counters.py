"""Task counters per dashboard dimension, kept up to date in the transaction that changes tasks.

A completion level depends on the instant it is computed for: a task becomes
overdue without any write. So each task is counted at its level as of a
stored *horizon*, the start of the current day in Vietnam. A task's level
changes only when the instant passes its deadline or its completion instant,
so as of now it differs from the counted level only for the tasks due or
completed between the horizon and now. The read path finds those few with
two indexed range queries and moves them to their level as of now.

The horizon moves forward once a day, on the first read of the day, by
recounting only the tasks due or completed between the old and the new
horizon. That read also stores the day's snapshot of the level counts, for
the trend chart.

Upkeep: a `before_flush` listener on every `Session` collects the tasks a
flush touches (tasks, their agency roles, classifications) and counts their
contribution from the database before the flush. An `after_flush` listener
counts it again and adds the difference to the counters, in the same
transaction. Both counts use the query of a full recount, and tests compare
the counters with a full recount after each kind of change.

The same delta, summed over levels, keeps `dashboard_member_totals` (tasks
per member) up to date, so the tables of the agencies with the most tasks
and of the latest documents read the first entries of an index instead of
grouping every counter row of their dimension.

Writes that bypass the ORM (raw SQL, bulk COPY in `bench/generate.py`) must
call `rebuild` afterwards.

Each such flush also updates the single `dashboard_state` row, which locks it
until commit. Task-changing transactions therefore run one after the other,
which keeps the horizon and the counters consistent; the node's writes are
few and short, so the wait is short too.

NOTE: moving an org unit to another province leaves the province counters of
its tasks stale until `theodoi dashboard recount`; the upkeep watches tasks,
their agency roles and classifications, not the org-unit tree.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    Table,
    bindparam,
    cast,
    delete,
    event,
    func,
    literal,
    select,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, attributes

from node.core.db import utcnow
from node.core.timezone import VN_TZ
from node.dashboard.models import (
    DashboardCounter,
    DashboardDailySnapshot,
    DashboardMemberTotal,
    DashboardState,
)
from node.local_tasks import completion
from node.local_tasks.models import (
    Document,
    OrgUnit,
    Task,
    TaskAgency,
    TaskClassification,
)

logger = logging.getLogger(__name__)

STATE_ID = 1

DIMENSIONS = ("all", "document", "lead", "province", "classification", "confidentiality",
              "completed_month")
PROVINCIAL_KIND = "provincial_party_committee"

# Task attributes whose change can move a task between counters.
COUNTED_ATTRIBUTES = ("reported_state", "deadline_at", "completed_at", "document_id",
                      "confidentiality", "classifications")
# Task ids per query when counting the contribution of many tasks.
ID_CHUNK = 5000

Key = tuple[str, str, str]  # dimension, member, counted level
MemberKey = tuple[str, str]  # dimension, member


def counted_level_expr(horizon: datetime) -> ColumnElement[str]:
    """Build the SQL expression of a task's counted level: its level as of `horizon`."""
    return completion.completion_level_expr(horizon)


def _completed_month_expr(dialect_name: str) -> ColumnElement[str]:
    # Vietnam has kept UTC+7 without daylight saving time since 1975, so a
    # fixed offset gives the local month on SQLite, which has no time zones.
    if dialect_name == "postgresql":
        return func.to_char(func.timezone("Asia/Ho_Chi_Minh", Task.completed_at), "YYYY-MM")
    return func.strftime("%Y-%m", Task.completed_at, "+7 hours")


def _province_units():  # noqa: ANN202
    """Return a recursive CTE pairing every unit under a provincial committee with that committee."""
    provinces = (select(OrgUnit.id.label("unit_id"), OrgUnit.id.label("province_id"))
                 .where(OrgUnit.kind == PROVINCIAL_KIND, OrgUnit.gso_code.is_not(None))
                 .cte("province_units", recursive=True))
    return provinces.union_all(
        select(OrgUnit.id, provinces.c.province_id)
        .join(provinces, OrgUnit.parent_id == provinces.c.unit_id))


def dimension_query(session: Session, dimension: str, *, horizon: datetime,
                    condition: ColumnElement[bool] | None = None, at: datetime | None = None):  # noqa: ANN201
    """Build the grouped count of one dimension over the tasks matching `condition`.

    Rows are (member, counted level, [level as of `at`,] count).
    """
    count = func.count()
    if dimension == "all":
        member: ColumnElement[str] = literal("", String)
        query = select(member).select_from(Task)
    elif dimension == "document":
        member = cast(Task.document_id, String)
        query = select(member).select_from(Task)
    elif dimension == "lead":
        member = cast(TaskAgency.org_unit_id, String)
        query = select(member).select_from(Task).join(
            TaskAgency, and_(TaskAgency.task_id == Task.id, TaskAgency.role == "lead"))
    elif dimension == "province":
        # Tasks led by several units of one province count once for it.
        provinces = _province_units()
        member = cast(provinces.c.province_id, String)
        count = func.count(Task.id.distinct())
        query = (select(member).select_from(Task)
                 .join(TaskAgency, and_(TaskAgency.task_id == Task.id, TaskAgency.role == "lead"))
                 .join(provinces, provinces.c.unit_id == TaskAgency.org_unit_id))
    elif dimension == "classification":
        member = cast(TaskClassification.value_id, String)
        query = select(member).select_from(Task).join(
            TaskClassification, TaskClassification.task_id == Task.id)
    elif dimension == "confidentiality":
        member = Task.confidentiality
        query = select(member).select_from(Task)
    elif dimension == "completed_month":
        member = _completed_month_expr(session.get_bind().dialect.name)
        query = select(member).select_from(Task).where(Task.reported_state == "completed")
    else:
        raise ValueError(f"unknown dashboard dimension {dimension!r}; known: {DIMENSIONS}")
    columns = [counted_level_expr(horizon)]
    if at is not None:
        columns.append(completion.completion_level_expr(at))
    query = query.add_columns(*columns, count)
    if condition is not None:
        query = query.where(condition)
    return query.group_by(member, *columns)


def count_contributions(session: Session, *, horizon: datetime,
                        condition: ColumnElement[bool] | None = None) -> Counter[Key]:
    """Count the tasks matching `condition` per counter key, over every dimension."""
    totals: Counter[Key] = Counter()
    for dimension in DIMENSIONS:
        query = dimension_query(session, dimension, horizon=horizon, condition=condition)
        for member, level, count in session.execute(query):
            totals[(dimension, member, level)] += count
    return totals


def _contributions_of(session: Session, task_ids: Iterable[int], horizon: datetime) -> Counter[Key]:
    totals: Counter[Key] = Counter()
    for chunk in id_chunks(sorted(set(task_ids))):
        totals.update(count_contributions(session, horizon=horizon,
                                          condition=Task.id.in_(chunk)))
    return totals


# Writing the counters ----------------------------------------------------------


def _upsert(session: Session, table: Table, key_columns: list[str]):  # noqa: ANN202
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return insert.on_conflict_do_update(
        index_elements=key_columns,
        set_={"task_count": table.c.task_count + insert.excluded.task_count})


def _add_counts(session: Session, table: Table, key_columns: list[str],
                changes: list[tuple[tuple[str, ...], int]]) -> None:
    """Add each (key, change) of `changes` to `table`'s task_count and drop the rows reaching zero.

    `changes` must be sorted by key and contain no zero change.
    """
    connection = session.connection()
    # Sorted keys: concurrent writers lock the rows in the same order.
    connection.execute(_upsert(session, table, key_columns), [
        {**dict(zip(key_columns, key, strict=True)), "task_count": value}
        for key, value in changes])
    emptied = [key for key, value in changes if value < 0]
    if emptied:
        matches = [table.c[name] == bindparam(f"k_{name}") for name in key_columns]
        connection.execute(
            delete(table).where(*matches, table.c.task_count == 0),
            [{f"k_{name}": value for name, value in zip(key_columns, key, strict=True)}
             for key in emptied])


def member_totals(delta: Counter[Key] | dict[Key, int]) -> Counter[MemberKey]:
    """Sum counter keys over their levels: the task count per (dimension, member)."""
    totals: Counter[MemberKey] = Counter()
    for (dimension, member, _level), value in delta.items():
        totals[(dimension, member)] += value
    return totals


def apply_delta(session: Session, delta: Counter[Key] | dict[Key, int]) -> None:
    """Add `delta` to the counters and to the member totals, and drop the rows that reach zero."""
    changes = sorted((key, value) for key, value in delta.items() if value)
    if not changes:
        return
    _add_counts(session, DashboardCounter.__table__, ["dimension", "member", "level"], changes)
    # A task that only changes level moves between a member's counters and
    # leaves its total unchanged, so the horizon's daily move writes no total.
    total_changes = sorted((key, value) for key, value in member_totals(dict(changes)).items()
                           if value)
    if total_changes:
        _add_counts(session, DashboardMemberTotal.__table__, ["dimension", "member"],
                    total_changes)


def day_start(instant: datetime) -> datetime:
    """Return the start of the Vietnam day that contains `instant`."""
    local_day = instant.astimezone(VN_TZ).date()
    return datetime.combine(local_day, time(0), tzinfo=VN_TZ)


def _lock_state(session: Session) -> dict | None:
    """Bump the change count, locking the state row until commit; return the row."""
    table = DashboardState.__table__
    row = session.connection().execute(
        update(table).where(table.c.id == STATE_ID)
        .values(change_count=table.c.change_count + 1).returning(*table.c)).mappings().first()
    return dict(row) if row is not None else None


def read_state(session: Session) -> dict | None:
    """Return the dashboard state row as a mapping, without locking it."""
    table = DashboardState.__table__
    row = session.connection().execute(
        select(table).where(table.c.id == STATE_ID)).mappings().first()
    return dict(row) if row is not None else None


def rebuild(session: Session, *, now: datetime | None = None) -> Counter[Key]:
    """Replace every counter and member total with a full recount; return the new counts."""
    now = now or utcnow()
    state = _lock_state(session)
    if state is None:
        raise RuntimeError("the dashboard_state row is missing; run `theodoi init` to migrate")
    horizon = day_start(now)
    totals = count_contributions(session, horizon=horizon)
    connection = session.connection()
    connection.execute(delete(DashboardCounter.__table__))
    connection.execute(delete(DashboardMemberTotal.__table__))
    apply_delta(session, totals)
    table = DashboardState.__table__
    connection.execute(update(table).where(table.c.id == STATE_ID).values(
        is_built=True, horizon_at=horizon, rebuilt_at=now))
    logger.info("dashboard counters rebuilt",
                extra={"rows": len(totals), "horizon_at": horizon.isoformat()})
    return totals


def stored_counters(session: Session) -> Counter[Key]:
    """Return the counters as stored."""
    rows = session.execute(select(DashboardCounter.dimension, DashboardCounter.member,
                                  DashboardCounter.level, DashboardCounter.task_count))
    return Counter({(dimension, member, level): count
                    for dimension, member, level, count in rows if count})


def stored_member_totals(session: Session) -> Counter[MemberKey]:
    """Return the member totals as stored."""
    rows = session.execute(select(DashboardMemberTotal.dimension, DashboardMemberTotal.member,
                                  DashboardMemberTotal.task_count))
    return Counter({(dimension, member): count for dimension, member, count in rows if count})


@dataclass
class RecountDifferences:
    """The stored counts that differ from a full recount, as (key, stored, recounted)."""

    counters: list[tuple[Key, int, int]]
    member_totals: list[tuple[MemberKey, int, int]]

    def __bool__(self) -> bool:
        return bool(self.counters or self.member_totals)


def _differences(stored: Counter, recounted: Counter) -> list:
    keys = sorted(set(recounted) | set(stored))
    return [(key, stored[key], recounted[key]) for key in keys if stored[key] != recounted[key]]


def check_against_recount(session: Session) -> RecountDifferences:
    """Recount every task once and compare the counters and the member totals with it.

    The recounted member totals are the recounted counters summed over their
    levels: every task has exactly one level, so that sum is the member's
    number of tasks.
    """
    state = read_state(session)
    if state is None or not state["is_built"]:
        raise RuntimeError("the dashboard counters are not built yet; run "
                           "`theodoi dashboard recount` first")
    recounted = count_contributions(session, horizon=state["horizon_at"])
    recounted_totals = Counter({key: value for key, value in member_totals(recounted).items()
                                if value})
    return RecountDifferences(
        counters=_differences(stored_counters(session), recounted),
        member_totals=_differences(stored_member_totals(session), recounted_totals))


def compare_with_recount(session: Session) -> list[tuple[Key, int, int]]:
    """Return (key, stored, recounted) for each counter that differs from a full recount."""
    return check_against_recount(session).counters


def ensure_current(session: Session, *, now: datetime) -> dict:
    """Build the counters if needed, move the horizon to today and take today's snapshot.

    Returns the state row. Does nothing but read when all three are current.
    """
    state = read_state(session)
    if state is None:
        raise RuntimeError("the dashboard_state row is missing; run `theodoi init` to migrate")
    today = now.astimezone(VN_TZ).date()
    if (state["is_built"] and state["horizon_at"] == day_start(now)
            and session.get(DashboardDailySnapshot, today) is not None):
        return state
    state = _lock_state(session) or state
    if not state["is_built"]:
        rebuild(session, now=now)
    elif state["horizon_at"] != day_start(now):
        _move_horizon(session, state["horizon_at"], day_start(now))
    state = read_state(session) or state
    if session.get(DashboardDailySnapshot, today) is None:
        from node.dashboard.figures import level_totals

        session.add(DashboardDailySnapshot(day_on=today, taken_at=now,
                                           level_counts=level_totals(session, now=now,
                                                                     horizon=state["horizon_at"])))
        session.flush()
    return state


def _move_horizon(session: Session, old: datetime, new: datetime) -> None:
    """Move the horizon from `old` to `new`, recounting the tasks due or completed between them.

    The horizon moves backwards only when the clock does (a test clock, or a
    corrected server clock).
    """
    moving = changing_task_ids(session, start=min(old, new), end=max(old, new))
    before = _contributions_of(session, moving, old)
    after = _contributions_of(session, moving, new)
    delta = Counter(after)
    delta.subtract(before)
    apply_delta(session, delta)
    table = DashboardState.__table__
    session.connection().execute(update(table).where(table.c.id == STATE_ID)
                                 .values(horizon_at=new))
    logger.info("dashboard horizon moved", extra={
        "from": old.isoformat(), "to": new.isoformat(), "tasks": len(moving)})


def changing_tasks(*, start: datetime, end: datetime):  # noqa: ANN201
    """Build the query of the ids of the tasks whose level may differ between `start` and `end`.

    A level changes only when the instant passes the task's deadline or its
    completion instant, so these are the tasks due or completed from `start`
    to `end`, both included. It is a UNION of one range per indexed column,
    because SQLite reads the whole table for an OR of both ranges.
    """
    column_type = Task.__table__.c.deadline_at.type
    start_value = literal(start, type_=column_type)
    end_value = literal(end, type_=column_type)
    due = select(Task.id).where(Task.deadline_at >= start_value, Task.deadline_at <= end_value)
    completed = select(Task.id).where(Task.completed_at >= start_value,
                                      Task.completed_at <= end_value)
    return union(due, completed)


def changing_task_ids(session: Session, *, start: datetime, end: datetime) -> list[int]:
    """Return the ids of `changing_tasks` in order."""
    return sorted(session.scalars(changing_tasks(start=start, end=end)))


def id_chunks(ids: list[int]) -> list[list[int]]:
    """Split `ids` into lists of at most ID_CHUNK, to keep each IN list short."""
    return [ids[start:start + ID_CHUNK] for start in range(0, len(ids), ID_CHUNK)]


@dataclass(frozen=True)
class UnsettledTask:
    """A task the counters count at its level as of the horizon, which differs as of now."""

    task_id: int
    counted_level: str
    level: str
    document_id: int
    confidentiality: str
    completed_month: str | None


class UnsettledTasks:
    """The tasks whose level changed between the horizon and now, with their members per dimension.

    The members of the dimensions that need other tables (lead agencies,
    provinces, classifications) are read on first use, once.
    """

    def __init__(self, session: Session, tasks: list[UnsettledTask],
                 members: dict[str, dict[int, list[str]]] | None = None):
        self.session = session
        self.tasks = tasks
        # Members read earlier in the transaction, for every task of `tasks`.
        self._members: dict[str, dict[int, list[str]]] = members or {}

    def members(self, dimension: str, task: UnsettledTask) -> list[str]:
        """Return the members of `dimension` that `task` counts for."""
        if dimension == "all":
            return [""]
        if dimension == "document":
            return [str(task.document_id)]
        if dimension == "confidentiality":
            return [task.confidentiality]
        if dimension == "completed_month":
            return [task.completed_month] if task.completed_month else []
        if dimension not in MEMBER_TABLE_DIMENSIONS:
            raise ValueError(f"unknown dashboard dimension {dimension!r}; known: {DIMENSIONS}")
        if not self._members:
            self._members = load_members(self.session, [task.task_id for task in self.tasks])
        return self._members[dimension].get(task.task_id, [])


# The dimensions whose members come from other tables than tasks.
MEMBER_TABLE_DIMENSIONS = ("lead", "province", "classification")


def load_members(session: Session, task_ids: Iterable[int]) -> dict[str, dict[int, list[str]]]:
    """Read the lead agencies, provinces and classifications of tasks, as counter members.

    Returns, per dimension, the members of each task: one per row of
    `dimension_query`, with a province counted once per task.
    """
    result: dict[str, dict[int, list[str]]] = {
        dimension: defaultdict(list) for dimension in MEMBER_TABLE_DIMENSIONS}
    for chunk in id_chunks(sorted(set(task_ids))):
        rows = session.execute(
            select(TaskClassification.task_id, TaskClassification.value_id)
            .where(TaskClassification.task_id.in_(chunk)))
        for task_id, value_id in rows:
            result["classification"][task_id].append(str(value_id))
        leads = session.execute(
            select(TaskAgency.task_id, TaskAgency.org_unit_id)
            .where(TaskAgency.task_id.in_(chunk), TaskAgency.role == "lead")).all()
        province_of = _provinces_of(session, {unit_id for _, unit_id in leads})
        for task_id, unit_id in leads:
            result["lead"][task_id].append(str(unit_id))
            province = province_of.get(unit_id)
            provinces = result["province"][task_id]
            if province is not None and str(province) not in provinces:
                provinces.append(str(province))
    return result


def unsettled_tasks(session: Session, *, horizon: datetime, now: datetime) -> UnsettledTasks:
    """Return the tasks whose level as of `now` differs from their counted level.

    Usually none or a few, so their levels are computed in Python with the
    rule of `node.local_tasks.completion`.
    """
    tasks: list[UnsettledTask] = []
    # One statement, because every dashboard figure starts with it.
    changing = changing_tasks(start=horizon, end=now).subquery()
    for task in session.execute(
            select(Task.id, Task.reported_state, Task.deadline_at, Task.completed_at,
                   Task.document_id, Task.confidentiality)
            .where(Task.id.in_(select(changing.c.id)))):
        facts = {"reported_state": task.reported_state, "deadline_at": task.deadline_at,
                 "completed_at": task.completed_at}
        counted = completion.completion_level(**facts, at=horizon)
        level = completion.completion_level(**facts, at=now)
        if counted == level:
            continue
        month = (task.completed_at.astimezone(VN_TZ).strftime("%Y-%m")
                 if task.reported_state == "completed" else None)
        tasks.append(UnsettledTask(task_id=task.id, counted_level=counted, level=level,
                                   document_id=task.document_id,
                                   confidentiality=task.confidentiality,
                                   completed_month=month))
    return UnsettledTasks(session, tasks)


def _provinces_of(session: Session, unit_ids: set[int]) -> dict[int, int]:
    """Return the provincial committee of each of `unit_ids` that lies under one."""
    if not unit_ids:
        return {}
    provinces = _province_units()
    return dict(session.execute(select(provinces.c.unit_id, provinces.c.province_id)
                                .where(provinces.c.unit_id.in_(sorted(unit_ids)))).all())


# Upkeep on flush ----------------------------------------------------------------

_PENDING = "theodoi_dashboard_pending"


def _changed(obj: object, names: Iterable[str]) -> bool:
    state = attributes.instance_state(obj)
    return any(state.attrs[name].history.has_changes() for name in names
               if name in state.attrs)


def _touched_task_ids(session: Session) -> tuple[set[int], list[Task]]:
    """Return the ids of stored tasks this flush may recount, and the new Task objects."""
    ids: set[int] = set()
    new_tasks: list[Task] = []
    for obj in session.new:
        if isinstance(obj, Task):
            new_tasks.append(obj)
        elif isinstance(obj, (TaskAgency, TaskClassification)):
            task = getattr(obj, "task", None)
            if task is not None and task.id is None:
                continue  # a new task, counted after the flush
            task_id = task.id if task is not None else obj.task_id
            if task_id is not None:
                ids.add(task_id)
    for obj in session.dirty:
        if isinstance(obj, Task) and obj.id is not None and _changed(obj, COUNTED_ATTRIBUTES):
            ids.add(obj.id)
        elif isinstance(obj, TaskAgency) and _changed(obj, ("task_id", "org_unit_id", "role")):
            history = attributes.instance_state(obj).attrs["task_id"].history
            ids.update(value for value in [obj.task_id, *history.deleted] if value is not None)
    for obj in session.deleted:
        if isinstance(obj, (Task,)):
            ids.add(obj.id)
        elif isinstance(obj, (TaskAgency, TaskClassification)) and obj.task_id is not None:
            ids.add(obj.task_id)
        elif isinstance(obj, Document):
            ids.update(session.scalars(select(Task.id).where(Task.document_id == obj.id)))
    return ids, new_tasks


# The task facts a completion level depends on (see `node.local_tasks.completion`).
LEVEL_FACTS = ("reported_state", "deadline_at", "completed_at")
_MEMBER_ATTRIBUTES = tuple(name for name in COUNTED_ATTRIBUTES if name not in LEVEL_FACTS)


def _level_moves(session: Session) -> list[tuple[Task, dict]] | None:
    """Return the tasks of a flush that changes only level facts, with their previous facts.

    A status update, a completion or a new deadline changes no member of any
    dimension: the task moves from one counted level to another within the
    same members. None means the flush changes something else that a
    recount must handle (new or deleted tasks, agency roles,
    classifications, documents), or a fact whose previous value was never
    loaded. The previous values come from the objects, which is safe because
    the version check on tasks rejects the flush of an object that another
    transaction changed after it was loaded.
    """
    if (any(isinstance(obj, (Task, TaskAgency, TaskClassification)) for obj in session.new)
            or any(isinstance(obj, (Task, TaskAgency, TaskClassification, Document))
                   for obj in session.deleted)):
        return None
    moves = []
    for obj in session.dirty:
        if isinstance(obj, TaskAgency) and _changed(obj, ("task_id", "org_unit_id", "role")):
            return None
        if not isinstance(obj, Task) or not _changed(obj, LEVEL_FACTS):
            continue
        if _changed(obj, _MEMBER_ATTRIBUTES):
            return None
        state = attributes.instance_state(obj)
        before = {}
        for name in LEVEL_FACTS:
            history = state.attrs[name].history
            if not history.has_changes():
                before[name] = getattr(obj, name)
            elif history.deleted:
                before[name] = history.deleted[0]
            else:
                return None
        moves.append((obj, before))
    return moves


def _counted_place(facts: dict, horizon: datetime) -> tuple[str, str | None, bool]:
    """Return a task's counted level, its completion month and whether it counts in a month."""
    completed_at = facts["completed_at"]
    month = completed_at.astimezone(VN_TZ).strftime("%Y-%m") if completed_at else None
    return (completion.completion_level(**facts, at=horizon), month,
            facts["reported_state"] == "completed")


def _moves_delta(session: Session, moves: list[tuple[Task, dict]],
                 horizon: datetime) -> Counter[Key]:
    """Return the counter changes of tasks that only move between levels, computed in Python.

    Each dimension's members are those of `dimension_query`, read from the
    database for the tasks whose counted place changes; the flush changes
    none of them.
    """
    places = []
    for task, before in moves:
        old = _counted_place(before, horizon)
        new = _counted_place({name: getattr(task, name) for name in LEVEL_FACTS}, horizon)
        if old != new:
            places.append((UnsettledTask(task_id=task.id, counted_level=old[0], level=new[0],
                                         document_id=task.document_id,
                                         confidentiality=task.confidentiality,
                                         completed_month=None), old, new))
    delta: Counter[Key] = Counter()
    if not places:
        return delta
    members = UnsettledTasks(session, [place[0] for place in places],
                             _cached_members(session, [place[0].task_id for place in places]))
    for task, (old_level, old_month, old_in_month), (new_level, new_month, new_in_month) in places:
        for dimension in DIMENSIONS:
            if dimension == "completed_month":
                if old_in_month:
                    delta[(dimension, old_month, old_level)] -= 1
                if new_in_month:
                    delta[(dimension, new_month, new_level)] += 1
                continue
            for member in members.members(dimension, task):
                delta[(dimension, member, old_level)] -= 1
                delta[(dimension, member, new_level)] += 1
    return delta


# Session.info keys: the counter members read in this transaction, by
# dimension and task id, and the ids of the tasks expected to change level.
_MEMBERS = "theodoi_dashboard_members"
_EXPECTED = "theodoi_dashboard_expected_moves"


def expect_level_moves(session: Session, task_ids: Iterable[int]) -> None:
    """Note tasks whose level the transaction may change, so their members are read together.

    The members are read at the first level move that needs them, after the
    dashboard state row is locked, in one query per table for all of them.
    """
    session.info.setdefault(_EXPECTED, set()).update(task_ids)


def _cached_members(session: Session, task_ids: list[int]) -> dict[str, dict[int, list[str]]]:
    """Return the counter members of `task_ids`, reading those not read in this transaction.

    A flush that changes members drops them (see `_count_before_flush`), so
    the cache contains the members as stored.
    """
    cached = session.info.get(_MEMBERS)
    if cached is None:
        cached = session.info[_MEMBERS] = {"read": set(), **{
            dimension: {} for dimension in MEMBER_TABLE_DIMENSIONS}}
    missing = set(task_ids) - cached["read"]
    if missing:
        missing |= session.info.pop(_EXPECTED, set()) - cached["read"]
        loaded = load_members(session, missing)
        for dimension in MEMBER_TABLE_DIMENSIONS:
            cached[dimension].update(loaded[dimension])
        cached["read"] |= missing
    return cached


@event.listens_for(Session, "before_flush")
def _count_before_flush(session: Session, flush_context, instances) -> None:  # noqa: ANN001
    ids, new_tasks = _touched_task_ids(session)
    if not ids and not new_tasks:
        return
    if not _has_state_table(session):
        return
    state = _lock_state(session)
    if state is None or not state["is_built"]:
        # Not built yet: the first read builds them from a full recount.
        return
    moves = _level_moves(session)
    if moves is not None:
        # The common case, such as an applied status update, needs no recount.
        # Its change is computed before the flush and added after it.
        session.info[_PENDING] = _moves_delta(session, moves, state["horizon_at"])
        return
    session.info.pop(_MEMBERS, None)
    before = _contributions_of(session, ids, state["horizon_at"]) if ids else Counter()
    session.info[_PENDING] = (ids, new_tasks, before, state["horizon_at"])


@event.listens_for(Session, "after_flush")
def _count_after_flush(session: Session, flush_context) -> None:  # noqa: ANN001
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return
    if isinstance(pending, Counter):
        apply_delta(session, pending)
        return
    ids, new_tasks, before, horizon = pending
    ids = set(ids) | {task.id for task in new_tasks if task.id is not None}
    after = _contributions_of(session, ids, horizon)
    delta = Counter(after)
    delta.subtract(before)
    apply_delta(session, delta)


@event.listens_for(Session, "after_soft_rollback")
def _forget_pending(session: Session, previous_transaction) -> None:  # noqa: ANN001
    # Also after a savepoint's rollback, which can undo a change of members.
    for key in (_PENDING, _MEMBERS, _EXPECTED):
        session.info.pop(key, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_members(session: Session, transaction) -> None:  # noqa: ANN001
    # Only at the end of the outermost transaction: releasing a savepoint keeps them.
    if transaction.parent is None:
        for key in (_MEMBERS, _EXPECTED):
            session.info.pop(key, None)


_STATE_TABLE_PRESENT: dict[str, bool] = {}


def _has_state_table(session: Session) -> bool:
    """Return whether the database has the dashboard tables (not before their migration)."""
    bind = session.get_bind()
    key = str(bind.url) if hasattr(bind, "url") else repr(bind)
    present = _STATE_TABLE_PRESENT.get(key)
    if present is None:
        from sqlalchemy import inspect

        present = inspect(session.connection()).has_table(DashboardState.__tablename__)
        if present:
            # Only a positive result is kept: a database may be migrated later.
            _STATE_TABLE_PRESENT[key] = True
    return present


def local_day(instant: datetime) -> date:
    return instant.astimezone(VN_TZ).date()


def month_start(day: date) -> date:
    return day.replace(day=1)


def previous_months(day: date, count: int) -> list[str]:
    """Return the `count` months up to the month of `day`, oldest first, as YYYY-MM."""
    months: list[str] = []
    current = month_start(day)
    for _ in range(count):
        months.append(current.strftime("%Y-%m"))
        current = month_start(current - timedelta(days=1))
    return list(reversed(months))


__all__ = ["DIMENSIONS", "rebuild", "compare_with_recount", "check_against_recount", "ensure_current", "apply_delta",
           "count_contributions", "dimension_query", "unsettled_tasks"]
