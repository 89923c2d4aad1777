"""A search box's query, read once and written for each database.

The syntax is a web search's: words (all of them must match), ``"a
phrase"``, ``-word`` or ``-"a phrase"`` (must not match), and ``or``
between two groups of words (either group). ``a b or c d`` is ``(a and b)
or (c and d)``, as PostgreSQL's ``websearch_to_tsquery`` reads it. A word
the analyzer cuts into several tokens (``e-mail``, an address, a URL, a
run of Chinese) is a phrase of them. A group with nothing that must match
(only ``-word``) is dropped, and a query with no group left matches
nothing: it would be a scan of everything.

A group matches a title, or a chunk's text, holding all its wanted terms
and none of its unwanted ones; a phrase's tokens must stand side by side,
in order. The same for both databases:

- PostgreSQL: ``tsquery()`` (each phrase as its tokens, all required),
  which the GIN index answers, and, when a phrase is involved,
  ``phrase_checks()``, which the search checks on those candidates against
  their ``terms`` (the token sequence) as substrings;
- SQLite: ``match()``, an FTS5 query, whose phrases FTS5 checks itself.
"""

import re
from dataclasses import dataclass, field

from ingest.search.analyzer import tokens

# A quoted phrase (the closing quote optional), or a run without spaces or quotes.
_PIECE = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
MAX_TERMS = 32  # per query: each costs the database an index lookup


@dataclass(frozen=True)
class Group:
    wanted: tuple[tuple[str, ...], ...] = ()
    unwanted: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Query:
    groups: tuple[Group, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.groups)

    def words(self) -> frozenset[str]:
        """The tokens a snippet marks: every wanted one."""
        return frozenset(token for g in self.groups for term in g.wanted for token in term)

    def tsquery(self) -> str:
        """PostgreSQL: the groups as a ``tsquery``, phrases as all their tokens."""
        return " | ".join(_group_tsquery(group) for group in self.groups)

    def phrase_checks(self) -> dict:
        """PostgreSQL: how the search checks a candidate's ``terms`` for the
        phrases that ``tsquery()`` only required the tokens of.

        ``plain``: no phrase, nothing to check. One group: each of ``wanted``
        (LIKE patterns) must match and none of ``unwanted``. Several groups
        (``or``) with a phrase: ``groups``, each its ``tsquery``, then its
        phrases ("+" wanted, "-" unwanted), separated by U+001E; a candidate
        must pass one of them."""
        phrases = [term for g in self.groups for term in (*g.wanted, *g.unwanted) if len(term) > 1]
        checks = {"plain": not phrases, "wanted": [], "unwanted": [], "groups": None}
        if not phrases:
            return checks
        if len(self.groups) == 1:
            [group] = self.groups
            checks["wanted"] = [_pattern(term) for term in group.wanted if len(term) > 1]
            checks["unwanted"] = [_pattern(term) for term in group.unwanted if len(term) > 1]
            return checks
        checks["groups"] = [
            "\x1e".join(
                [_group_tsquery(group)]
                + [f"+{' '.join(term)}" for term in group.wanted if len(term) > 1]
                + [f"-{' '.join(term)}" for term in group.unwanted if len(term) > 1]
            )
            for group in self.groups
        ]
        return checks

    def match(self) -> str:
        """SQLite: the groups as an FTS5 query."""
        return " OR ".join(f"({_group_match(group)})" for group in self.groups)


def parse(q: str) -> Query:
    groups, wanted, unwanted, count = [], [], [], 0
    for match in _PIECE.finditer(q):
        minus = match.group(1) or match.group(3)
        quoted, bare = match.group(2), match.group(4)
        if bare is not None and not minus and bare.lower() == "or":
            groups.append(Group(tuple(wanted), tuple(unwanted)))
            wanted, unwanted = [], []
            continue
        term = tuple(tokens(quoted if quoted is not None else bare))
        if not term or count >= MAX_TERMS:
            continue
        count += 1
        (unwanted if minus else wanted).append(term)
    groups.append(Group(tuple(wanted), tuple(unwanted)))
    return Query(tuple(dict.fromkeys(g for g in groups if g.wanted)))


def _pattern(term: tuple[str, ...]) -> str:
    # Tokens hold no LIKE wildcard: the analyzer keeps letters, digits and marks.
    return f"% {' '.join(term)} %"


def _lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _group_tsquery(group: Group) -> str:
    wanted = dict.fromkeys(_lexeme(token) for term in group.wanted for token in term)
    unwanted = [f"!{_lexeme(term[0])}" for term in group.unwanted if len(term) == 1]
    return " & ".join([*wanted, *unwanted])


def _phrase(term: tuple[str, ...]) -> str:
    return '"' + " ".join(term).replace('"', '""') + '"'


def _group_match(group: Group) -> str:
    expression = " AND ".join(_phrase(term) for term in group.wanted)
    return "".join([expression, *(f" NOT {_phrase(term)}" for term in group.unwanted)])
