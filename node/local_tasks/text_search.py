"""Text filter of the task lists: a folded phrase matched as a substring of `tasks.search_text`.

The match itself is always `search_text LIKE '%phrase%'`. An index only
narrows the candidates first, so every path returns the same tasks. Two
indexes exist on each database:

- a word index: the SQLite FTS5 table `tasks_words` (`unicode61` tokenizer)
  and the PostgreSQL GIN index `ix_tasks_search_words` on
  `task_search_words(search_text)` (migration f2b3c4d5e6f7);
- a substring index: the SQLite FTS5 table `tasks_fts` with the trigram
  tokenizer, and the PostgreSQL pg_trgm GIN index `ix_tasks_search_text_trgm`
  (migration e1f2a3b4c5d6).

Both are kept in step with `tasks` by triggers (SQLite) or by the index
itself (PostgreSQL). A phrase such as "an ninh mang" consists of common
trigrams, but few tasks contain its words together: it reads the word index
(`choose_index` says when). A phrase without a whole word (such as "vptw",
which may sit inside a longer word) or with only common words reads the
trigram index. A phrase shorter than three characters is matched by reading
the search text of the tasks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, Text, cast, column, func, literal, select, table, text
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session

from node.core.text import fold
from node.local_tasks.models import Task

# The shortest phrase that contains a trigram.
MIN_INDEXED_LENGTH = 3

# Database objects that migrations create outside the models, so the
# models-versus-migrations check leaves them out: the FTS5 table with its
# shadow tables (SQLite) and the trigram index (PostgreSQL).
INDEX_OBJECTS = frozenset({
    "tasks_fts", "tasks_fts_data", "tasks_fts_idx", "tasks_fts_docsize", "tasks_fts_config",
    "ix_tasks_search_text_trgm",
    "tasks_words", "tasks_words_data", "tasks_words_idx", "tasks_words_docsize",
    "tasks_words_config", "ix_tasks_search_words",
})

# A word of the word index: a run of these characters. SQLite's `unicode61`
# tokenizer also splits at every ASCII character outside them, and
# `task_search_words` on PostgreSQL splits at every character outside them.
_WORD = re.compile(r"[a-z0-9]+")
# The PostgreSQL word index keeps the first 100 characters of each word.
MAX_INDEXED_WORD = 100
# A shorter prefix is left out of the word query: FTS5 merges the lists of
# every word with that prefix first ("hoa" took 40 to 80 ms at a million
# tasks, "so" would be worse).
MIN_WORD_PREFIX = 4


# The FTS5 table in SQL: its column named like the table matches
# against every indexed column.
_FTS = table("tasks_fts", column("rowid"), column("tasks_fts"))
_WORDS = table("tasks_words", column("rowid"), column("tasks_words"))


@dataclass(frozen=True)
class WordQuery:
    """The words that every search text containing a phrase contains, in phrase order.

    `words` are whole words, and `prefix`, when set, starts the word that
    follows them.
    """

    words: tuple[str, ...]
    prefix: str | None

    def fts(self) -> str:
        """Return the FTS5 query: the words as one phrase, the last one as a prefix if set."""
        tokens = [*self.words, *([self.prefix] if self.prefix else [])]
        return '"' + " ".join(tokens) + '"' + (" *" if self.prefix else "")

    def tsquery(self) -> str:
        """Return the PostgreSQL tsquery: every word, each cut as the word index cuts it."""
        terms = [f"'{word}'" if len(word) < MAX_INDEXED_WORD
                 else f"'{word[:MAX_INDEXED_WORD]}':*" for word in self.words]
        if self.prefix:
            terms.append(f"'{self.prefix[:MAX_INDEXED_WORD]}':*")
        return " & ".join(terms)


def word_query(phrase: str) -> WordQuery | None:
    """Return the word conditions that every text containing `phrase` meets, or None.

    A text containing the phrase may continue its first word to the left and
    its last word to the right ("an ninh mang" occurs in "ban ninh mang").
    So the first word counts only when the phrase starts with a separator.
    The last word is a prefix unless the phrase ends with a separator. A prefix
    shorter than `MIN_WORD_PREFIX` is left out. Returns None when no word
    remains, and for phrases with non-ASCII characters, which the two
    databases split differently.
    """
    if not phrase or not phrase.isascii():
        return None
    words = _WORD.findall(phrase)
    if words and _WORD.match(phrase[0]):
        words = words[1:]
    prefix = words.pop() if words and _WORD.match(phrase[-1]) else None
    if prefix is not None and len(prefix) < MIN_WORD_PREFIX:
        prefix = None
    if not words and prefix is None:
        return None
    return WordQuery(tuple(words), prefix)


def phrase_of(value: str | None) -> str:
    """Fold a search entry into the phrase that the filter matches (quotes around it dropped)."""
    return fold(value).strip('"').strip() if value else ""


def like_condition(phrase: str, *, hide_from_trigrams: bool = False) -> ColumnElement[bool]:
    """Match `phrase` literally anywhere in the search text, `%` and `_` included.

    With `hide_from_trigrams` the LIKE applies to `search_text || ''`, an
    expression that PostgreSQL's trigram index does not cover, so the
    planner reads the candidates from the word index alone. Given both, it
    combines them and reads the trigram lists of every common trigram
    (about 100 ms for "an ninh mang" at a million tasks).
    """
    searched = Task.search_text.concat("") if hide_from_trigrams else Task.search_text
    return searched.like(_like_pattern(phrase), escape="\\")


def _like_pattern(phrase: str) -> str:
    """Return the LIKE pattern that finds `phrase` anywhere; a backslash escapes `%`, `_` and itself."""
    escaped = phrase.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fts_query(phrase: str) -> str:
    """Quote `phrase` as one FTS5 string, so the trigram tokenizer reads it as a substring."""
    return '"' + phrase.replace('"', '""') + '"'


# Share of the tasks above which a word is common on PostgreSQL. The word
# index would then return more than 1% of the tasks as candidates. A scan
# that stops after the first matches, or the trigram index, is cheaper then.
COMMON_WORD_SHARE = 0.01


def _rare_on_postgresql(session: Session, words: WordQuery) -> bool:
    """Tell whether one of `words` is in at most `COMMON_WORD_SHARE` of the tasks.

    The shares come from the planner statistics of the word index (the most
    common words and their shares, which ANALYZE collects). A word missing
    from them is rare, and so is every word before the first ANALYZE.
    """
    rows = session.execute(text(
        "SELECT u.word, u.share FROM pg_stats s, "
        "unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS u(word, share) "
        "WHERE s.tablename = 'ix_tasks_search_words' "
        "AND (u.word = ANY(:words) OR u.word LIKE :prefix)"),
        {"words": list(words.words), "prefix": f"{words.prefix}%" if words.prefix else ""}).all()
    shares = {word: share for word, share in rows}
    estimates = [shares.get(word, 0.0) for word in words.words]
    if words.prefix:
        # Every common word with the prefix adds its share.
        estimates.append(sum(share for word, share in rows if word.startswith(words.prefix)))
    return min(estimates) <= COMMON_WORD_SHARE


# On SQLite, the word index is used when it returns at most this many
# candidates. Counting them stops one past it, which took 1 to 25 ms at a
# million tasks. A phrase of common words that few tasks contain ("g an ni")
# took 894 ms through the word index and 40 ms through the trigram index.
MAX_WORD_CANDIDATES = 10_000


def _few_word_candidates(session: Session, words: WordQuery, limit: int) -> bool:
    """Tell whether the SQLite word index returns at most `limit` candidates for `words`."""
    candidates = (select(_WORDS.c.rowid).where(_WORDS.c.tasks_words.match(words.fts()))
                  .limit(limit + 1).subquery())
    return session.scalar(select(func.count()).select_from(candidates)) <= limit


# On PostgreSQL a phrase found at least this many times in the first
# `SAMPLE_ROWS` tasks is matched by reading the table, so the list's capped
# count stops after a few thousand tasks. The trigram index would first build
# a bitmap of every candidate. For "chuyen doi so" (61,317 matches at a
# million tasks, idle machine) that took 86 ms, against about 10 ms for the scan.
SAMPLE_ROWS = 20_000
SAMPLE_MATCHES = 200


def _common_in_sample(session: Session, phrase: str) -> bool:
    """Tell whether `phrase` matches at least `SAMPLE_MATCHES` of the first `SAMPLE_ROWS` tasks."""
    sample = select(Task.search_text).limit(SAMPLE_ROWS).subquery()
    matches = (select(sample.c.search_text).where(sample.c.search_text.like(
        _like_pattern(phrase), escape="\\")).limit(SAMPLE_MATCHES).subquery())
    return session.scalar(select(func.count()).select_from(matches)) >= SAMPLE_MATCHES


def choose_index(session: Session, phrase: str, *,
                 max_word_candidates: int = MAX_WORD_CANDIDATES) -> str:
    """Return how to narrow the candidates of `phrase`: "words", "trigrams", "scan" or "none".

    On PostgreSQL a phrase with a rare word reads the word index, and a
    phrase common in a sample of the tasks ("scan") reads the table in its
    stored order. Otherwise "none" leaves the choice to the planner, which
    reads the trigram index or scans the table, whichever it estimates
    cheaper. On SQLite the word index is chosen when it returns at most
    `max_word_candidates` tasks, and the trigram index otherwise.
    """
    words = word_query(phrase)
    if session.get_bind().dialect.name == "postgresql":
        if words is not None and _rare_on_postgresql(session, words):
            return "words"
        return "scan" if _common_in_sample(session, phrase) else "none"
    if words is not None and _few_word_candidates(session, words, max_word_candidates):
        return "words"
    return "trigrams" if len(phrase) >= MIN_INDEXED_LENGTH else "none"


def text_condition(query: Select, phrase: str, index: str, dialect: str) -> Select:
    """Add the match of `phrase` to `query`, with the candidates read from `index`.

    `index` is a value of `choose_index`. The matches do not depend on it.
    A phrase without words reads the trigram index in place of the word index.
    """
    if index == "scan":
        # Out of the trigram index's reach, so PostgreSQL reads the table.
        return query.where(like_condition(phrase, hide_from_trigrams=True))
    words = word_query(phrase) if index == "words" else None
    if words is not None:
        if dialect == "postgresql":
            return query.where(
                like_condition(phrase, hide_from_trigrams=True),
                func.task_search_words(Task.search_text).op("@@")(
                    cast(literal(words.tsquery(), Text), TSQUERY)))
        return (query.where(like_condition(phrase)).join(_WORDS, _WORDS.c.rowid == Task.id)
                .where(_WORDS.c.tasks_words.match(words.fts())))
    query = query.where(like_condition(phrase))
    if index != "none" and dialect == "sqlite" and len(phrase) >= MIN_INDEXED_LENGTH:
        return (query.join(_FTS, _FTS.c.rowid == Task.id)
                .where(_FTS.c.tasks_fts.match(fts_query(phrase))))
    return query
