"""In-memory series store: label index, bounded numpy ring buffers, retention, staleness."""

from watchdog.tsdb.matchers import Matcher, MatchOp
from watchdog.tsdb.store import SeriesStore

__all__ = ["Matcher", "MatchOp", "SeriesStore"]
