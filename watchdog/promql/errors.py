"""The one exception the PromQL engine raises."""


class PromQLError(Exception):
    """A parse or evaluation error; the message is meant for the operator ("parse error: ...")."""


class PromQLTimeout(PromQLError):
    """The query ran past its deadline (the query API's `timeout` parameter)."""
