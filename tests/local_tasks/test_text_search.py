"""Text filter: the substring index path finds exactly what the plain scan finds.

Every task's search text is "15/kh-vptw N van phong trung uong dang "
followed by its folded content (document reference, task number, lead
agency, content). The expected tasks of each phrase are worked out by hand
from those texts.
"""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from node.core import migrate
from node.core.db import make_engine, unit_of_work
from node.local_tasks import queries, text_search
from node.local_tasks.inputs import DocumentInput, TaskInput
from node.local_tasks.models import Task
from node.local_tasks.service import create_document

CONTENTS = {
    1: "Bảo đảm an ninh mạng cho hệ thống thông tin",
    2: "An ninh mạng lưới điện",
    3: "Đẩy mạnh chuyển đổi số quốc gia",
    4: "Số hóa và chuyển đổi",
    5: "Tỷ lệ đạt 100% kế_hoạch",
    6: 'Trích dẫn "Nghị quyết 57" về khoa học',
    7: "Đào tạo cán bộ Đà Nẵng",
    8: "Mã số AAAA-2026",
}
ALL = set(CONTENTS)

# Phrase as typed, then the numbers of the tasks whose folded text contains it.
PHRASES = [
    ("an ninh mạng", {1, 2}),
    ("AN NINH MẠNG", {1, 2}),
    ("an ninh mang", {1, 2}),
    ("  an   ninh ", {1, 2}),
    ("mạng lưới", {2}),
    ("chuyển đổi số", {3}),
    (unicodedata.normalize("NFD", "chuyển đổi số"), {3}),
    ("số chuyển", set()),
    ("kế hoạch", set()),
    ("ế_h", {5}),
    ("100%", {5}),
    ("%", {5}),
    ('"Nghị quyết 57"', {6}),
    ('quyết 57" về', {6}),
    ("đà nẵng", {7}),
    ("aaa", {8}),
    ("aaaaa", set()),
    ("so", {3, 4, 8}),
    ("đ", ALL),
    ("15/KH-VPTW", ALL),
    # The agency's name and the content meet at a space in the search text.
    ("đảng bảo đảm", {1}),
]


@pytest.fixture
def numbered(session: Session, calendar) -> dict[int, int]:  # noqa: ANN001
    """Create the tasks of CONTENTS and map each task's id to its number."""
    tasks = [TaskInput(task_no=str(number), content=content,
                       lead_agencies=["Văn phòng Trung ương Đảng"])
             for number, content in CONTENTS.items()]
    document = create_document(session, DocumentInput(
        reference="15/KH-VPTW", summary="Kế hoạch thử tìm kiếm", issued_on=date(2026, 2, 2),
        tasks=tasks), calendar=calendar)
    session.flush()
    return {task.id: int(task.task_no) for task in document.tasks}


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# How a test reads the candidates: from the word index, from the trigram
# index, from every task's search text with the indexes turned off, or from
# every task's search text as `choose_index` returns for a common phrase.
PATHS = ("words", "trigrams", "scan", "table")


def _matches(session: Session, typed: str, path: str) -> set[int]:
    """Return the ids of the tasks that match `typed`, with candidates read along `path`."""
    dialect = _dialect(session)
    filters = queries.TaskFilter(text=typed)
    index = {"words": "words", "trigrams": "trigrams", "scan": "none", "table": "scan"}[path]
    query = queries._apply_filters(select(Task.id), filters, None, text_index=index,
                                   dialect=dialect)
    if dialect == "postgresql":
        # The planner picks an index by itself, so the trigram path turns the
        # scan off and the scan turns the indexes off for this transaction.
        settings = {"words": [], "trigrams": ["enable_seqscan"],
                    "scan": ["enable_bitmapscan", "enable_indexscan"], "table": []}[path]
        for setting in settings:
            session.execute(text(f"SET LOCAL {setting} = off"))
        try:
            return set(session.scalars(query))
        finally:
            for setting in settings:
                session.execute(text(f"SET LOCAL {setting} = on"))
    return set(session.scalars(query))


def _plan(session: Session, typed: str, index: str) -> str:
    dialect = _dialect(session)
    query = queries._apply_filters(select(Task.id), queries.TaskFilter(text=typed), None,
                                   text_index=index, dialect=dialect)
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if dialect == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))
        try:
            rows = session.execute(text(f"EXPLAIN {compiled}")).all()
        finally:
            session.execute(text("SET LOCAL enable_seqscan = on"))
        return "\n".join(row[0] for row in rows)
    rows = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize(("typed", "expected"), PHRASES)
def test_index_and_scan_find_same_tasks(session, numbered, typed, expected):  # noqa: ANN001
    found = {path: {numbered[task_id] for task_id in _matches(session, typed, path)}
             for path in PATHS}

    assert found["scan"] == expected
    assert found["trigrams"] == expected
    assert found["words"] == expected
    assert found["table"] == expected


# Phrase, then the whole words and the prefix that every text containing it
# has, worked out by hand: a phrase may start inside a word and end inside one.
WORD_QUERIES = [
    ("an ninh mang", ("ninh",), "mang"),
    ("an ninh mang ", ("ninh", "mang"), None),
    ('"an ninh', ("an",), "ninh"),
    ("an ninh ma", ("ninh",), None),
    ("so aaaa-2026", ("aaaa",), "2026"),
    ("quyet 57\" ve", ("57",), None),
    ("ninh", None, None),
    ("chuyen do", None, None),
    ("stra\u00dfe und", None, None),
    ("", None, None),
]


@pytest.mark.parametrize(("phrase", "words", "prefix"), WORD_QUERIES)
def test_word_query_of_phrase(phrase, words, prefix):  # noqa: ANN001
    query = text_search.word_query(phrase)

    if words is None:
        assert query is None
    else:
        assert query == text_search.WordQuery(words, prefix)


def test_word_query_texts():
    query = text_search.WordQuery(("ninh", "x" * 120), "mang")

    assert query.fts() == '"ninh ' + "x" * 120 + ' mang" *'
    assert query.tsquery() == "'ninh' & '" + "x" * 100 + "':* & 'mang':*"


def test_rare_phrase_reads_word_index(session, numbered):  # noqa: ANN001
    plan = _plan(session, "an ninh mạng", "words")

    if _dialect(session) == "postgresql":
        assert "ix_tasks_search_words" in plan
        assert "ix_tasks_search_text_trgm" not in plan
    else:
        assert "VIRTUAL TABLE INDEX" in plan
        assert "tasks_words" in plan
        assert "tasks_fts" not in plan


def test_phrase_inside_word_reads_trigrams(session, numbered):  # noqa: ANN001
    plan = _plan(session, "aaa", "words")

    if _dialect(session) == "postgresql":
        assert "ix_tasks_search_text_trgm" in plan
    else:
        assert "tasks_fts" in plan
        assert "tasks_words" not in plan


def test_short_phrase_scans_without_index(session, numbered):  # noqa: ANN001
    if _dialect(session) == "sqlite":
        assert "tasks_fts" not in _plan(session, "so", "trigrams")
    assert {numbered[task_id] for task_id in _matches(session, "so", "trigrams")} == {3, 4, 8}


def test_choose_index_by_word_candidates(session, numbered):  # noqa: ANN001
    phrase = text_search.phrase_of("an ninh mạng")

    # Tasks 1 and 2 contain "ninh" followed by a word starting with "mang".
    if _dialect(session) == "sqlite":
        assert text_search.choose_index(session, phrase, max_word_candidates=2) == "words"
        assert text_search.choose_index(session, phrase, max_word_candidates=1) == "trigrams"
    else:
        assert text_search.choose_index(session, phrase, max_word_candidates=1) == "words"


def test_common_phrase_reads_table(session, numbered, monkeypatch):  # noqa: ANN001
    # Two of the eight tasks contain "ninh m". With a threshold of two
    # matches in the sample the phrase counts as common.
    monkeypatch.setattr(text_search, "SAMPLE_MATCHES", 2)
    phrase = text_search.phrase_of("ninh m")
    if _dialect(session) == "postgresql":
        assert text_search.choose_index(session, phrase) == "scan"
        assert "ix_tasks_search_text_trgm" not in _plan(session, "ninh m", "scan")
    else:
        # SQLite narrows by its FTS5 tables whatever the share.
        assert text_search.choose_index(session, phrase) == "trigrams"
    monkeypatch.setattr(text_search, "SAMPLE_MATCHES", 3)
    expected = "none" if _dialect(session) == "postgresql" else "trigrams"
    assert text_search.choose_index(session, phrase) == expected


def test_choose_index_without_statistics(session, numbered):  # noqa: ANN001
    # A fresh database has no planner statistics, so every word counts as rare.
    assert text_search.choose_index(session, text_search.phrase_of("An ninh mạng")) == "words"
    expected = "none" if _dialect(session) == "postgresql" else "trigrams"
    assert text_search.choose_index(session, "vptw") == expected


def test_index_follows_edit_and_delete(session, numbered):  # noqa: ANN001
    task = session.get(Task, next(task_id for task_id, number in numbered.items() if number == 2))
    task.search_text = "15/kh-vptw 2 van phong trung uong dang bao ve bien gioi"
    session.flush()

    assert {numbered[i] for i in _matches(session, "an ninh mạng", "words")} == {1}
    assert {numbered[i] for i in _matches(session, "biên giới", "words")} == {2}

    session.delete(task)
    session.flush()

    assert {numbered[i] for i in _matches(session, "an ninh mạng", "words")} == {1}
    assert _matches(session, "biên giới", "words") == set()


def test_list_page_of_rare_phrase(session, numbered):  # noqa: ANN001
    from datetime import UTC, datetime

    page = queries.list_tasks(session, queries.TaskFilter(text="An ninh mạng"),
                              at=datetime(2026, 3, 1, tzinfo=UTC))

    assert page.total == 2
    assert page.total_exact
    assert sorted(numbered[task.id] for task, _level in page.items) == [1, 2]


def _index_objects(engine) -> set[str]:  # noqa: ANN001
    inspector = inspect(engine)
    names = set(inspector.get_table_names())
    names |= {index["name"] for index in inspector.get_indexes("tasks")}
    return names & text_search.INDEX_OBJECTS


def test_migration_builds_index_of_existing_tasks(fresh_database_url, calendar):  # noqa: ANN001
    from sqlalchemy.orm import sessionmaker

    from node.local_tasks.reference import seed_reference_data

    engine = make_engine(fresh_database_url)
    try:
        migrate.upgrade(engine)
        with unit_of_work(sessionmaker(bind=engine)) as session:
            seed_reference_data(session)
            create_document(session, DocumentInput(
                reference="16/KH-VPTW", summary="Kế hoạch", issued_on=date(2026, 2, 2),
                tasks=[TaskInput(task_no="1", content="Bảo đảm an ninh mạng",
                                 lead_agencies=["Văn phòng Trung ương Đảng"])]),
                calendar=calendar)
        if engine.dialect.name == "postgresql":
            trigrams = {"ix_tasks_search_text_trgm"}
            expected = trigrams | {"ix_tasks_search_words"}
        else:
            trigrams = {"tasks_fts", "tasks_fts_data", "tasks_fts_idx", "tasks_fts_docsize",
                        "tasks_fts_config"}
            expected = trigrams | {"tasks_words", "tasks_words_data", "tasks_words_idx",
                                   "tasks_words_docsize", "tasks_words_config"}
        assert _index_objects(engine) == expected

        migrate.downgrade(engine, "e1f2a3b4c5d6")
        assert _index_objects(engine) == trigrams

        migrate.downgrade(engine, "e2a3b4c5d6e7")
        assert _index_objects(engine) == set()

        migrate.upgrade(engine)
        assert _index_objects(engine) == expected
        assert migrate.model_differences(engine) == []
        with sessionmaker(bind=engine)() as session:
            assert len(_matches(session, "an ninh mạng", "words")) == 1
    finally:
        engine.dispose()
