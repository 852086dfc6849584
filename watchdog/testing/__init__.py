"""Test and drill helpers: FakeClock, local channel servers."""
