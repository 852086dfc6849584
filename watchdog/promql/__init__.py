"""PromQL engine over the in-memory series store (parser: promql-parser; Prometheus 3 semantics).

`watchdog.promql.template` (annotation templates) lives here too but is a separate module.
"""

from watchdog.promql.ast import Expr
from watchdog.promql.engine import Engine, QueryResult
from watchdog.promql.errors import PromQLError

__all__ = ["Engine", "Expr", "PromQLError", "QueryResult"]
