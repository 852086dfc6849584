"""watchdog-daemon: monitoring and self-healing daemon."""

__version__ = "0.1.0"
