"""Receivers of other apps' signals; connected in CommunicationsConfig.ready()."""


def connect() -> None:
    """Connect the receivers (called once from CommunicationsConfig.ready)."""
